package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzProtocolToken: any Sec-WebSocket-Protocol header either yields a
// non-empty token offered with the marker, no token, or an error that
// does not repeat the header.
func FuzzProtocolToken(f *testing.F) {
	for _, s := range []string{"", EventsProtocol, EventsProtocol + ", " + TokenProtocolPrefix + "cy5hYmM", TokenProtocolPrefix + "!!", TokenProtocolPrefix + "a,,", "x, y ,z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{"Sec-Websocket-Protocol": {h}}}
		tok, err := protocolToken(r)
		if err != nil {
			if tok != "" {
				t.Fatal("token and error")
			}
			if enc, ok := strings.CutPrefix(strings.TrimSpace(h), TokenProtocolPrefix); ok && len(enc) > 8 && strings.Contains(err.Error(), enc) {
				t.Fatalf("error %q repeats the offered value", err)
			}
			return
		}
		if tok != "" && !strings.Contains(h, EventsProtocol) {
			t.Fatalf("token without the marker from %q", h)
		}
	})
}
