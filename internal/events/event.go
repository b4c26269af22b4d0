package events

import (
	"encoding/json"
	"maps"
	"time"
)

// Event is one change notice. Metadata carries paths and versions, never a
// secret value. An Event is immutable once published: the bus hands the
// same pointer to every subscriber.
type Event struct {
	// ID is unique per event (a UUID).
	ID string
	// Type is the event type, e.g. "kv-v2/data-write" or "policy/changed".
	Type string
	// Time is when the event was published, in UTC.
	Time time.Time
	// Metadata describes what changed; "path" and "data_path", when set,
	// are full request paths with the mount ("secret/data/app/db").
	Metadata map[string]string
	// Plugin is the mount that sent the event; for core's own events its
	// MountClass is "system" and MountPath "sys/".
	Plugin PluginInfo
}

// PluginInfo names the mount an event came from, in Vault's words.
type PluginInfo struct {
	// MountClass is "secret", "auth" or "system".
	MountClass string `json:"mount_class"`
	// MountAccessor is the mount's accessor, e.g. "kv_1a2b3c4d".
	MountAccessor string `json:"mount_accessor"`
	// MountPath is where it is mounted, e.g. "secret/".
	MountPath string `json:"mount_path"`
	// Plugin is the mount's type, e.g. "kv".
	Plugin string `json:"plugin"`
}

// DataPath is the path an event is about, for ACL and path filters: the
// metadata's "data_path", else its "path", else "".
func (e *Event) DataPath() string {
	if p := e.Metadata["data_path"]; p != "" {
		return p
	}
	return e.Metadata["path"]
}

// Source is the CloudEvents source of every event Coffer sends.
const Source = "coffer://events"

// envelope is Vault's JSON event shape: a CloudEvents 1.0 envelope.
// "datacontentype" is spelled as Vault spells it, for its clients.
type envelope struct {
	ID              string       `json:"id"`
	Source          string       `json:"source"`
	SpecVersion     string       `json:"specversion"`
	Type            string       `json:"type"`
	Data            envelopeData `json:"data"`
	DataContentType string       `json:"datacontentype"`
	Time            string       `json:"time"`
}

type envelopeData struct {
	Event      envelopeEvent `json:"event"`
	EventType  string        `json:"event_type"`
	PluginInfo PluginInfo    `json:"plugin_info"`
}

type envelopeEvent struct {
	ID       string            `json:"id"`
	Metadata map[string]string `json:"metadata"`
}

// MarshalJSON encodes e in Vault's CloudEvents shape:
//
//	{"id", "source", "specversion": "1.0", "type",
//	 "data": {"event": {"id", "metadata"}, "event_type", "plugin_info"},
//	 "datacontentype": "application/cloudevents", "time"}
func (e *Event) MarshalJSON() ([]byte, error) {
	md := e.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return json.Marshal(envelope{
		ID:          e.ID,
		Source:      Source,
		SpecVersion: "1.0",
		Type:        e.Type,
		Data: envelopeData{
			Event:      envelopeEvent{ID: e.ID, Metadata: md},
			EventType:  e.Type,
			PluginInfo: e.Plugin,
		},
		DataContentType: "application/cloudevents",
		Time:            e.Time.UTC().Format(time.RFC3339Nano),
	})
}

// UnmarshalJSON decodes the shape MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, env.Time)
	if err != nil && env.Time != "" {
		return err
	}
	*e = Event{
		ID:       env.Data.Event.ID,
		Type:     env.Data.EventType,
		Time:     t,
		Metadata: maps.Clone(env.Data.Event.Metadata),
		Plugin:   env.Data.PluginInfo,
	}
	if e.ID == "" {
		e.ID = env.ID
	}
	if e.Type == "" {
		e.Type = env.Type
	}
	return nil
}
