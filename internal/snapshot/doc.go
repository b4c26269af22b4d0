// Package snapshot writes, reads and verifies Coffer's snapshot files: a
// consistent, point-in-time copy of every physical storage key and value,
// as stored (values are barrier ciphertext; the seal's and the keyring's
// entries are copied as they are, so a snapshot is only as readable as the
// keys that sealed it). It also runs scheduled snapshots into a directory.
//
// # File format (version 1)
//
// All integers are unsigned and big endian.
//
//	magic      16 bytes  "COFFER-SNAPSHOT\n"
//	version     4 bytes  1
//	header      4 bytes length (at most [MaxHeaderSize]), then a JSON [Header]
//	records     each: 4 bytes key length (1..[MaxKeySize]), key,
//	                  4 bytes value length (at most [MaxValueSize]), value
//	end         4 bytes  0 (a key is never empty)
//	count       8 bytes  number of records
//	checksum   32 bytes  SHA-256 of every byte above, from the magic on
//
// Nothing may follow the checksum. Keys are strictly ascending byte
// strings, so a key appears once. The header's key_count, the trailer's
// count and the records read must agree.
//
// # Reading untrusted input
//
// [Reader] reads one record at a time and never allocates more than about
// twice the bytes it has actually received, whatever lengths the input
// declares; at most one record ([MaxKeySize] + [MaxValueSize]) is held at
// once. A snapshot is trusted only once its checksum has been read and
// matched: [Spool] reads the whole stream into a private temporary file,
// verifying it, before anything is applied, so a truncated or corrupted
// file is refused before it can change anything.
//
// This package imports only the standard library and internal/atomicfile
// (a leaf that imports nothing else of Coffer's), so that the command
// line can verify a file it has downloaded. Storages satisfy [Source]
// without importing it. Everything here is safe for use by one goroutine
// at a time, except [Scheduler], whose methods are safe for concurrent use.
package snapshot
