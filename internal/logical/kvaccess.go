package logical

// MayViewKVKey is the rule of KV version 2 recursive lists and searches,
// kept here so that the engine and sys/access/search apply the same one:
// the caller sees key k of the mount at mount ("secret/") when its ACL
// lets it read the data (mount+"data/"+k), or read or list the metadata
// (mount+"metadata/"+k), of that key. Seeing a key shows its path only. A
// nil checker allows nothing.
func MayViewKVKey(access AccessChecker, mount, k string) bool {
	if access == nil {
		return false
	}
	return access.Allowed(mount+"data/"+k, ReadOperation) ||
		access.Allowed(mount+"metadata/"+k, ReadOperation) ||
		access.Allowed(mount+"metadata/"+k, ListOperation)
}

// MayReadKVMetadata reports whether the caller may read the metadata of
// key k of the KV version 2 mount at mount (mount+"metadata/"+k): what a
// search needs to show, or filter on, a key's custom_metadata, times and
// creator. A nil checker allows nothing.
func MayReadKVMetadata(access AccessChecker, mount, k string) bool {
	return access != nil && access.Allowed(mount+"metadata/"+k, ReadOperation)
}
