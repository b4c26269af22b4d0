package uitest

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
)

// TestEvents checks which browser events fail a test: the end-of-test
// check is only as good as this classification.
func TestEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   any
		want string // a substring of the problem; "" for none
	}{
		{"console.error", &runtime.EventConsoleAPICalled{Type: runtime.ConsoleAPICalledTypeError, Args: []*runtime.RemoteObject{{Description: "boom"}}}, "console.error: boom"},
		{"console.log", &runtime.EventConsoleAPICalled{Type: runtime.ConsoleAPICalledTypeLog}, ""},
		{"exception", &runtime.EventExceptionThrown{ExceptionDetails: &runtime.ExceptionDetails{Text: "Uncaught", Exception: &runtime.RemoteObject{Description: "TypeError: x"}}}, "uncaught exception: Uncaught TypeError: x"},
		{"csp violation", &log.EventEntryAdded{Entry: &log.Entry{Level: log.EntryLevelError, Source: log.EntrySourceSecurity, Text: "Refused to execute inline script"}}, "Refused to execute"},
		{"network log", &log.EventEntryAdded{Entry: &log.Entry{Level: log.EntryLevelError, Source: log.EntrySourceNetwork, Text: "403"}}, ""},
		{"loading failed", &network.EventLoadingFailed{RequestID: "r1", ErrorText: "net::ERR_CONNECTION_REFUSED"}, "http://x/ui/app.js: net::ERR_CONNECTION_REFUSED"},
		{"loading canceled", &network.EventLoadingFailed{RequestID: "r1", Canceled: true}, ""},
		{"api 403", &network.EventResponseReceived{Response: &network.Response{URL: "http://x/v1/sys/internal/ui/mounts", Status: 403}}, ""},
		{"api 500", &network.EventResponseReceived{Response: &network.Response{URL: "http://x/v1/secret/data/a", Status: 500}}, "HTTP 500"},
		{"asset 404", &network.EventResponseReceived{Response: &network.Response{URL: "http://x/ui/pages/nope.js", Status: 404}}, "HTTP 404"},
		{"asset 200", &network.EventResponseReceived{Response: &network.Response{URL: "http://x/ui/app.js", Status: 200}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &Session{urls: map[network.RequestID]string{}}
			s.event(&network.EventRequestWillBeSent{RequestID: "r1", Request: &network.Request{URL: "http://x/ui/app.js"}})
			s.event(tt.ev)
			got := strings.Join(s.probs, "\n")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("event %T: problems %q, want %q", tt.ev, got, tt.want)
			}
		})
	}
	s := &Session{urls: map[network.RequestID]string{}}
	s.Allow("Refused")
	s.event(tests[3].ev)
	if len(s.probs) != 0 {
		t.Errorf("an allowed problem was kept: %q", s.probs)
	}
}

func TestSelectors(t *testing.T) {
	t.Parallel()
	tests := []struct{ got, want string }{
		{Button("Sign in"), `//button[normalize-space(.)="Sign in" or @aria-label="Sign in"]`},
		{Link(`say "hi"`), `//a[normalize-space(.)='say "hi"' or @aria-label='say "hi"']`},
		{xpathString(`it's "x"`), `concat("it's ", '"', "x", '"', "")`},
		{jsFind("#x"), `document.querySelector("#x")`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("selector = %s, want %s", tt.got, tt.want)
		}
	}
}
