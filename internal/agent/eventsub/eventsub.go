// Package eventsub subscribes to the server's events over a WebSocket
// (sys/events/subscribe/TYPE?json=true) and decodes what arrives. The CLI
// (`coffer events subscribe`) and the agent (templates that follow
// changes) both dial through it.
package eventsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
	"github.com/hashicorp/vault/api"
)

// StatusError is the error of a [Dial] the server refused with an HTTP
// status instead of upgrading the connection: 403 (the token may not
// subscribe), 404 (a server without events), or a proxy's answer.
type StatusError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("the server answered %d", e.StatusCode)
	if e.StatusCode == http.StatusForbidden {
		msg += ": permission denied"
	}
	return msg
}

// ErrAddress is the error of a server address that is not an http or
// https URL.
var ErrAddress = errors.New("invalid server address")

// URL is the WebSocket address of the subscription to eventType (a
// glob such as "kv-v2/*") on the server at addr, with filter, a glob on
// the event's data path, when not "".
func URL(addr, eventType, filter string) (string, error) {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w %q", ErrAddress, addr)
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/sys/events/subscribe/" + eventType
	q := url.Values{"json": {"true"}}
	if filter != "" {
		q.Set("filter", filter)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Dial subscribes to eventType on cl's server with token. It uses cl's
// transport, so its TLS settings, but no client timeout: the stream ends
// when the caller's reads are cancelled or the server closes it. A
// refusal is a *[StatusError]. The caller closes the connection.
func Dial(ctx context.Context, cl *api.Client, token, eventType, filter string) (*websocket.Conn, error) {
	u, err := URL(cl.Address(), eventType, filter)
	if err != nil {
		return nil, err
	}
	hc := *cl.CloneConfig().HttpClient
	hc.Timeout = 0
	hdr := http.Header{}
	if token != "" {
		hdr.Set("X-Vault-Token", token)
	}
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: &hc, HTTPHeader: hdr})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &StatusError{StatusCode: resp.StatusCode}
		}
		return nil, err
	}
	return conn, nil
}

// Event is what a subscriber needs of one event in Vault's CloudEvents
// JSON shape.
type Event struct {
	// Type is the event type, e.g. "kv-v2/data-write".
	Type string
	// Path and DataPath are the metadata's "path" and "data_path", full
	// request paths ("secret/metadata/app", "secret/data/app"); either
	// may be "".
	Path, DataPath string
	// MountPath is the mount that sent the event, e.g. "secret/".
	MountPath string
}

// Parse decodes one message of a subscription.
func Parse(b []byte) (Event, error) {
	var e struct {
		Data struct {
			EventType string `json:"event_type"`
			Event     struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"event"`
			PluginInfo struct {
				MountPath string `json:"mount_path"`
			} `json:"plugin_info"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	md := e.Data.Event.Metadata
	return Event{Type: e.Data.EventType, Path: md["path"], DataPath: md["data_path"], MountPath: e.Data.PluginInfo.MountPath}, nil
}

// KVDataPath is the KV version 2 read path ("secret/data/app") of the
// secret a kv-v2 event is about: its data_path, or else, for events that
// name only the metadata path (a metadata delete), the path rebuilt on
// the mount ("secret/metadata/app" becomes "secret/data/app"). It is ""
// when the event names no secret.
func (e Event) KVDataPath() string {
	if e.DataPath != "" {
		return e.DataPath
	}
	if e.MountPath == "" || !strings.HasPrefix(e.Path, e.MountPath) {
		return ""
	}
	_, p, ok := strings.Cut(e.Path[len(e.MountPath):], "/")
	if !ok || p == "" {
		return ""
	}
	return e.MountPath + "data/" + p
}
