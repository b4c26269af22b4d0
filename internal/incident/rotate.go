package incident

import (
	"slices"
	"strings"
)

// Rotation actions: what `coffer incident rotate` does for each thing a
// report lists.
const (
	// ActionRotateKV rotates a KV v2 secret with a rotation policy
	// (MOUNT/rotate/PATH); without one it is left to a human.
	ActionRotateKV = "rotate-kv"
	// ActionRotateStaticRole rotates a database static role's password
	// (MOUNT/rotate-role/NAME).
	ActionRotateStaticRole = "rotate-static-role"
	// ActionRevokeLease revokes a credential's lease (dropping a dynamic
	// database user), unless contain already did.
	ActionRevokeLease = "revoke-lease"
	// ActionRotateTransitKey rotates a transit key the identities
	// encrypted with or made data keys with (MOUNT/keys/NAME/rotate).
	ActionRotateTransitKey = "rotate-transit-key"
	// ActionRewrap is the manual rewrap of the ciphertexts made with a
	// rotated transit key's older versions.
	ActionRewrap = "rewrap"
	// ActionRevokeCert revokes a certificate the identities were issued
	// (MOUNT/revoke, which updates the CRL).
	ActionRevokeCert = "revoke-cert"
	// ActionChange is a secret no engine can rotate: a human changes it.
	ActionChange = "change-by-hand"
)

// OutcomeManual marks a rotation step left to a human: its Detail is the
// command to run.
const OutcomeManual = "manual"

// Action is one thing to rotate, from a report.
type Action struct {
	// Kind is one of the Action constants.
	Kind string `json:"action"`
	// Target names what is rotated, stable across runs: the secret path
	// read, the lease ID, MOUNT/keys/NAME, or a certificate serial as the
	// audit log holds it. (Kind, Target) is the key of the step recorded
	// in the incident.
	Target string `json:"target"`
	// Mount is the engine's mount point ("secret/") and Name the path
	// within it (the KV secret path, the role or key name).
	Mount string `json:"mount,omitempty"`
	Name  string `json:"name,omitempty"`
	// Versions are the KV versions read, or the transit key versions
	// encrypted with.
	Versions []int64 `json:"versions,omitempty"`
	// Ciphertexts are those a transit key made for the identities, when
	// the audit log holds them in the clear: the ones to rewrap.
	Ciphertexts []string `json:"ciphertexts,omitempty"`
}

// Plan lists what to rotate for what rep shows the identities read and
// were issued, in a stable order: KV secrets, database static roles and
// credential leases, transit keys, certificates, then what needs a human.
// Writes other than encryptions and certificate issues are not in it.
func Plan(rep *Report) []Action {
	var out []Action
	idx := map[[2]string]int{}
	add := func(a Action) {
		k := [2]string{a.Kind, a.Target}
		if i, ok := idx[k]; ok {
			out[i].Versions = mergeVersions(out[i].Versions, a.Versions)
			out[i].Ciphertexts = append(out[i].Ciphertexts, a.Ciphertexts...)
			return
		}
		idx[k] = len(out)
		a.Versions = mergeVersions(nil, a.Versions)
		out = append(out, a)
	}
	for _, r := range rep.Reads {
		if r.Path == "" {
			continue
		}
		rest, inMount := strings.CutPrefix(r.Path, r.Mount)
		if inMount && r.Mount != "" && holdsNoSecret(r.MountType, rest) {
			continue
		}
		switch {
		case r.MountType == "transit" && inMount && transitKeyRead(rest) != "":
			// The key itself left (export or backup): rotate it.
			name := transitKeyRead(rest)
			add(Action{Kind: ActionRotateTransitKey, Target: r.Mount + "keys/" + name, Mount: r.Mount, Name: name})
		case r.MountType == "kv" && inMount && strings.HasPrefix(rest, "data/") && len(rest) > len("data/"):
			add(Action{Kind: ActionRotateKV, Target: r.Path, Mount: r.Mount, Name: strings.TrimPrefix(rest, "data/"), Versions: r.Versions})
		case r.MountType == "database" && inMount && strings.HasPrefix(rest, "static-creds/") && len(rest) > len("static-creds/"):
			add(Action{Kind: ActionRotateStaticRole, Target: r.Path, Mount: r.Mount, Name: strings.TrimPrefix(rest, "static-creds/")})
		default:
			add(Action{Kind: ActionChange, Target: r.Path, Mount: r.Mount, Name: rest, Versions: r.Versions})
		}
	}
	for _, c := range rep.Credentials {
		if c.LeaseID != "" {
			add(Action{Kind: ActionRevokeLease, Target: c.LeaseID, Mount: c.Mount})
		}
	}
	for _, w := range rep.Writes {
		rest, inMount := strings.CutPrefix(w.Path, w.Mount)
		if !inMount || w.Mount == "" {
			continue
		}
		switch {
		case w.MountType == "transit" && (strings.HasPrefix(rest, "encrypt/") || strings.HasPrefix(rest, "datakey/")):
			// encrypt/NAME, datakey/plaintext/NAME, datakey/wrapped/NAME
			name := rest[strings.LastIndexByte(rest, '/')+1:]
			if name == "" {
				continue
			}
			add(Action{Kind: ActionRotateTransitKey, Target: w.Mount + "keys/" + name, Mount: w.Mount, Name: name, Versions: w.KeyVersions, Ciphertexts: w.Ciphertexts})
		case w.MountType == "pki" && w.Serial != "" && (strings.HasPrefix(rest, "issue/") || strings.HasPrefix(rest, "sign/")):
			add(Action{Kind: ActionRevokeCert, Target: w.Serial, Mount: w.Mount})
		}
	}
	order := []string{ActionRotateKV, ActionRotateStaticRole, ActionRevokeLease, ActionRotateTransitKey, ActionRevokeCert, ActionChange}
	slices.SortStableFunc(out, func(x, y Action) int {
		if d := slices.Index(order, x.Kind) - slices.Index(order, y.Kind); d != 0 {
			return d
		}
		return strings.Compare(x.Target, y.Target)
	})
	return out
}

func mergeVersions(a, b []int64) []int64 {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// holdsNoSecret reports whether a read of path (within a mount of the
// engine) answers no secret value, so there is nothing to rotate: KV
// metadata, subkeys and configuration; the configuration, roles and
// public material of the database, transit and PKI engines.
func holdsNoSecret(mountType, path string) bool {
	switch mountType {
	case "kv":
		return path == "config" || strings.HasPrefix(path, "metadata/") || strings.HasPrefix(path, "subkeys/") ||
			strings.HasPrefix(path, "rotation/") || path == "metadata" || path == "rotation"
	case "database":
		return !strings.HasPrefix(path, "static-creds/")
	case "transit":
		return !strings.HasPrefix(path, "export/") && !strings.HasPrefix(path, "backup/")
	case "pki":
		return true
	}
	return false
}

// transitKeyRead returns the key a transit read exported (export/TYPE/
// NAME[/VERSION] or backup/NAME), or "".
func transitKeyRead(path string) string {
	parts := strings.Split(path, "/")
	switch {
	case parts[0] == "export" && len(parts) >= 3:
		return parts[2]
	case parts[0] == "backup" && len(parts) == 2:
		return parts[1]
	}
	return ""
}
