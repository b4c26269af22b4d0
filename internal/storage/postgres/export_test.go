package postgres

// SetRenewHook makes e call f, with the term's epoch, before each renewal
// of its leaderships' leases; f may block to stand in for a paused
// process. Call it before Acquire.
func SetRenewHook(e *Elector, f func(epoch int64)) { e.beforeRenew = f }

// SetBumpHook makes e call f just before the epoch bump of each Acquire.
// Call it before Acquire.
func SetBumpHook(e *Elector, f func()) { e.beforeBump = f }

// LeaderKey returns the advisory lock key of s's election.
func LeaderKey(s *Storage) int64 { return s.leaderKey }
