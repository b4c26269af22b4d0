package incident

import (
	"context"
	"slices"

	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Bounds of one sys/incident/ID/rotations request and of a record.
const (
	maxRotationSteps  = 1000
	maxRotationsTotal = 10000
	maxRotationField  = 4096
)

// rotationAction reports whether a rotation step may record action.
func rotationAction(action string) bool {
	switch action {
	case incident.ActionRotateKV, incident.ActionRotateStaticRole, incident.ActionRevokeLease,
		incident.ActionRotateTransitKey, incident.ActionRewrap, incident.ActionRevokeCert, incident.ActionChange:
		return true
	}
	return false
}

// rotationStep is one outcome a client reports.
type rotationStep struct {
	Action  string `json:"action"`
	Target  string `json:"target"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
	Detail  string `json:"detail"`
}

type rotationsInput struct {
	Steps []rotationStep `json:"steps"`
}

// recordRotations stores the outcomes of `coffer incident rotate` in the
// incident, one step per (action, target), so that a re-run skips what
// is done. The rotations themselves are ordinary API requests the client
// makes with its own token (and are audited as such): the report they
// come from is read from the audit log, which only the client has.
func (a *API) recordRotations(ctx context.Context, _ *logical.Request, m *framework.Match, in *rotationsInput) (*logical.Response, error) {
	if len(in.Steps) == 0 {
		return nil, logical.InvalidRequest("missing steps: a list of {action, target, outcome, error, detail}")
	}
	if len(in.Steps) > maxRotationSteps {
		return nil, logical.InvalidRequest("too many steps (%d): at most %d a request", len(in.Steps), maxRotationSteps)
	}
	for i, s := range in.Steps {
		switch {
		case !rotationAction(s.Action):
			return nil, logical.InvalidRequest("steps[%d]: unknown action %q", i, s.Action)
		case s.Target == "":
			return nil, logical.InvalidRequest("steps[%d]: missing target", i)
		case s.Outcome != incident.OutcomeOK && s.Outcome != incident.OutcomeFailed && s.Outcome != incident.OutcomeManual:
			return nil, logical.InvalidRequest("steps[%d]: outcome %q: want ok, failed or manual", i, s.Outcome)
		case len(s.Target)+len(s.Error)+len(s.Detail) > maxRotationField:
			return nil, logical.InvalidRequest("steps[%d]: target, error and detail longer than %d bytes", i, maxRotationField)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.load(ctx, m.Get("id"))
	if err != nil {
		return nil, err
	}
	now := a.now()
	for _, in := range in.Steps {
		s := incident.Step{Action: in.Action, Target: in.Target, Outcome: in.Outcome, Error: in.Error, Detail: in.Detail, Time: now, Attempts: 1}
		if i := slices.IndexFunc(r.Rotations, func(o incident.Step) bool { return o.Action == s.Action && o.Target == s.Target }); i >= 0 {
			s.Attempts = r.Rotations[i].Attempts + 1
			r.Rotations[i] = s
			continue
		}
		if len(r.Rotations) >= maxRotationsTotal {
			return nil, logical.InvalidRequest("the incident already records %d rotation steps", maxRotationsTotal)
		}
		r.Rotations = append(r.Rotations, s)
	}
	if err := a.save(ctx, r); err != nil {
		return nil, err
	}
	return &logical.Response{Data: r}, nil
}
