package cli

import "flag"

// lifeFlags are the secret lifecycle flags of kv metadata put and patch:
// expiry and recovery window (docs/lifecycle.md).
type lifeFlags struct {
	expireAt           string
	ttl                durationFlag
	recoveryWindowDays int
}

func (f *lifeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.expireAt, "expire-at", "", `When the secret expires, an RFC 3339 time ("2030-01-02T15:04:05Z"); "" removes the expiry.`)
	fs.Var(&f.ttl, "ttl", `Expire the secret this long from now ("0s" removes the expiry).`)
	fs.IntVar(&f.recoveryWindowDays, "recovery-window-days", 0, "Days a deleted secret stays recoverable (0: destroyed at once; -1: the mount's setting).")
}

// addTo adds the flags that were given (set) to a metadata body.
func (f *lifeFlags) addTo(b map[string]any, set map[string]bool) {
	if set["expire-at"] {
		b["expire_at"] = f.expireAt
	}
	if set["ttl"] {
		b["ttl"] = f.ttl.apiValue()
	}
	if set["recovery-window-days"] {
		b["recovery_window_days"] = f.recoveryWindowDays
	}
}
