package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics, that every problem it reports
// is an *Error with a position, and that a configuration it accepts
// validates again unchanged and parses the same way twice.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.hcl"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range seeds {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		base + "max_lease_ttl = 3600\n",
		"storage \"bolt\" { pathh = 1 }\nlistener \"tcp\" { tls_disable = \"1\" }\n",
		"storage \"postgresql\" { connection_url = \"host=x\" max_parallel = \"2\" }\nlistener tcp {}\n",
		"storage \"file\" { path = \"/d\" }\nlistener \"tcp\" { address = \"[::1]:0\" }\nseal \"x\" {}\n",
		"storage \"inmem\" {}\nstorage \"inmem\" {}\n",
		"api_addr = \"${1+1}\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse(src, "f.hcl", nil)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse(%q) returned a config with error %v", src, err)
			}
			for _, e := range unjoin(err) {
				pe, ok := errors.AsType[*Error](e)
				if !ok || pe.Pos == "" || pe.Msg == "" {
					t.Fatalf("Parse(%q) problem %#v is not an *Error with Pos and Msg", src, e)
				}
			}
			return
		}
		if c.Storage == nil || len(c.Listeners) == 0 {
			t.Fatalf("Parse(%q) accepted a config without storage or listeners: %+v", src, c)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted a config that Validate rejects: %v", src, err)
		}
		again, err := Parse(src, "f.hcl", nil)
		if err != nil {
			t.Fatalf("second Parse(%q) = %v, first succeeded", src, err)
		}
		if diff := cmp.Diff(c, again, ignoreSources); diff != "" {
			t.Fatalf("Parse(%q) is not deterministic (-first +second):\n%s", src, diff)
		}
	})
}
