package incident

import "time"

// Incident statuses.
const (
	StatusOpen     = "open"
	StatusReleased = "released"
)

// Step outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
)

// Actor is who opened or released an incident.
type Actor struct {
	Accessor string `json:"accessor,omitempty"`
	EntityID string `json:"entity_id,omitempty"`
}

// RevokedToken is one token an incident revoked (a matched token or a
// descendant of one), with the leases it held.
type RevokedToken struct {
	Accessor string `json:"accessor"`
	EntityID string `json:"entity_id,omitempty"`
	// Path is the token's creation path.
	Path string `json:"path,omitempty"`
	// Via is the accessor of the matched token whose tree this one was
	// in; "" for a matched token itself.
	Via    string   `json:"via,omitempty"`
	Leases []string `json:"leases,omitempty"`
}

// SecretID is an AppRole secret ID an incident destroyed.
type SecretID struct {
	Mount    string `json:"mount"`
	Role     string `json:"role,omitempty"`
	Accessor string `json:"accessor"`
}

// Step is the outcome of one containment action. A failed step keeps
// its error (client-safe) and is retried by the next run of contain.
type Step struct {
	Action  string `json:"action"`
	Target  string `json:"target"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// Detail says what a rotation step did, or for OutcomeManual the
	// command a human runs.
	Detail   string    `json:"detail,omitempty"`
	Attempts int       `json:"attempts"`
	Time     time.Time `json:"time"`
}

// Record is an incident as stored behind the barrier and answered by
// sys/incident/ID.
type Record struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	OpenedAt   time.Time `json:"opened_at"`
	OpenedBy   Actor     `json:"opened_by"`
	UpdatedAt  time.Time `json:"updated_at"`
	ReleasedAt time.Time `json:"released_at,omitzero"`
	ReleasedBy *Actor    `json:"released_by,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Criteria   Criteria  `json:"criteria"`
	// Entities are the contained identities: those named and those of
	// every matched token.
	Entities []string `json:"entities,omitempty"`
	// DisabledEntities are the entities this incident disabled (they were
	// enabled before); release enables them again.
	DisabledEntities []string       `json:"disabled_entities,omitempty"`
	Revoked          []RevokedToken `json:"revoked,omitempty"`
	SecretIDs        []SecretID     `json:"secret_ids,omitempty"`
	Blocks           Blocks         `json:"blocks"`
	Steps            []Step         `json:"steps"`
	// Rotations are the outcomes of `coffer incident rotate`, one per
	// (action, target); a step that is OutcomeOK is skipped by the next
	// run.
	Rotations []Step `json:"rotations,omitempty"`
}

// Rotated returns the rotation step recorded for action on target.
func (r *Record) Rotated(action, target string) (Step, bool) {
	for _, s := range r.Rotations {
		if s.Action == action && s.Target == target {
			return s, true
		}
	}
	return Step{}, false
}

// Failed returns the steps whose last attempt failed.
func (r *Record) Failed() []Step {
	var out []Step
	for _, s := range r.Steps {
		if s.Outcome == OutcomeFailed {
			out = append(out, s)
		}
	}
	return out
}

// Accessors returns the accessors of every token the incident revoked.
func (r *Record) Accessors() []string {
	out := make([]string, 0, len(r.Revoked))
	for _, t := range r.Revoked {
		out = append(out, t.Accessor)
	}
	return out
}
