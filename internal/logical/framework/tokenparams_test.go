package framework

import (
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// roleBody is how an auth method embeds the token parameters in its input.
type roleBody struct {
	Name string `json:"name"`
	TokenParamsUpdate
}

func TestTokenParamsUpdateApply(t *testing.T) {
	t.Parallel()
	base := TokenParams{
		Policies: CommaStrings{"a"}, TTL: Duration(time.Minute), MaxTTL: Duration(time.Hour),
		Type: TokenTypeService, BoundCIDRs: CommaStrings{"10.0.0.0/8"},
	}
	tests := []struct {
		name    string
		base    TokenParams
		body    string
		want    TokenParams
		wantMsg string
	}{
		{name: "empty body changes nothing", base: base, body: `{}`, want: base},
		{
			name: "all fields",
			body: `{"token_policies":"B, a,b ,,A","token_ttl":"5m","token_max_ttl":3600,"token_explicit_max_ttl":"2h",` +
				`"token_period":"30s","token_num_uses":"3","token_type":" Service ","token_bound_cidrs":["127.0.0.1"," 10.1.0.0/16"],` +
				`"token_no_default_policy":"true"}`,
			want: TokenParams{
				Policies: CommaStrings{"b", "a"}, TTL: Duration(5 * time.Minute), MaxTTL: Duration(time.Hour),
				ExplicitMaxTTL: Duration(2 * time.Hour), Period: Duration(30 * time.Second), NumUses: 3,
				Type: TokenTypeService, BoundCIDRs: CommaStrings{"127.0.0.1", "10.1.0.0/16"}, NoDefaultPolicy: true,
			},
		},
		{
			name: "only named fields change", base: base, body: `{"token_ttl":"10m"}`,
			want: TokenParams{
				Policies: CommaStrings{"a"}, TTL: Duration(10 * time.Minute), MaxTTL: Duration(time.Hour),
				Type: TokenTypeService, BoundCIDRs: CommaStrings{"10.0.0.0/8"},
			},
		},
		{
			name: "deprecated policies", base: base, body: `{"policies":["x","y"]}`,
			want: TokenParams{
				Policies: CommaStrings{"x", "y"}, TTL: Duration(time.Minute), MaxTTL: Duration(time.Hour),
				Type: TokenTypeService, BoundCIDRs: CommaStrings{"10.0.0.0/8"},
			},
		},
		{
			name: "token_policies wins over policies", body: `{"policies":"x","token_policies":"y"}`,
			want: TokenParams{Policies: CommaStrings{"y"}},
		},
		{
			name: "clear lists with empty values", base: base, body: `{"token_policies":"","token_bound_cidrs":[]}`,
			want: TokenParams{
				Policies: CommaStrings{}, TTL: Duration(time.Minute), MaxTTL: Duration(time.Hour),
				Type: TokenTypeService, BoundCIDRs: CommaStrings{},
			},
		},
		{name: "ttl over max ttl", body: `{"token_ttl":"2h","token_max_ttl":"1h"}`, wantMsg: `"token_ttl" must not be greater than "token_max_ttl"`},
		{name: "ttl over stored max ttl", base: base, body: `{"token_ttl":"2h"}`, wantMsg: `"token_ttl" must not be greater than "token_max_ttl"`},
		{name: "ttl with no max", body: `{"token_ttl":"200h"}`, want: TokenParams{TTL: Duration(200 * time.Hour)}},
		{name: "negative num uses", body: `{"token_num_uses":-1}`, wantMsg: `invalid value for "token_num_uses": want an integer from 0 to 2147483647`},
		{name: "huge num uses", body: `{"token_num_uses":4294967296}`, wantMsg: `invalid value for "token_num_uses": want an integer from 0 to 2147483647`},
		{name: "bad token type", body: `{"token_type":"forever"}`, wantMsg: `invalid value for "token_type": want "service", "batch", "default", "default-service" or "default-batch"`},
		{name: "batch with period", body: `{"token_type":"batch","token_period":"1h"}`, wantMsg: `batch tokens cannot be periodic: unset "token_period" or choose another "token_type"`},
		{name: "default-batch with num uses", body: `{"token_type":"default-batch","token_num_uses":2}`, wantMsg: `batch tokens cannot have a use limit: unset "token_num_uses" or choose another "token_type"`},
		{name: "bad cidr", body: `{"token_bound_cidrs":"10.0.0.0/33"}`, wantMsg: `invalid value for "token_bound_cidrs": want IP addresses or CIDR blocks`},
		{name: "hostname is not a cidr", body: `{"token_bound_cidrs":"example.com"}`, wantMsg: `invalid value for "token_bound_cidrs": want IP addresses or CIDR blocks`},
		{name: "root policy", body: `{"token_policies":"a,ROOT"}`, wantMsg: `invalid value for "token_policies": an auth method cannot grant the "root" policy`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var in roleBody
			if err := DecodeBody(json.RawMessage(tt.body), &in); err != nil {
				t.Fatalf("DecodeBody(%q) error = %v", tt.body, err)
			}
			before := cloneParams(tt.base)
			got, err := in.Apply(tt.base)
			if diff := cmp.Diff(before, tt.base); diff != "" {
				t.Errorf("Apply modified its argument (-before +after):\n%s", diff)
			}
			if tt.wantMsg != "" {
				var le *logical.Error
				if !errors.As(err, &le) || !errors.Is(err, logical.ErrInvalidRequest) || le.Msg != tt.wantMsg {
					t.Fatalf("Apply(%s) error = %v, want ErrInvalidRequest %q", tt.body, err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply(%s) error = %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Apply(%s) mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func cloneParams(p TokenParams) TokenParams {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	var out TokenParams
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	if p.Policies != nil && out.Policies == nil {
		out.Policies = CommaStrings{}
	}
	if p.BoundCIDRs != nil && out.BoundCIDRs == nil {
		out.BoundCIDRs = CommaStrings{}
	}
	return out
}

func TestTokenParamsApplyDoesNotAlias(t *testing.T) {
	t.Parallel()
	base := TokenParams{Policies: CommaStrings{"a"}, BoundCIDRs: CommaStrings{"10.0.0.1"}}
	var u TokenParamsUpdate
	got, err := u.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	got.Policies[0] = "changed"
	got.BoundCIDRs[0] = "changed"
	if base.Policies[0] != "a" || base.BoundCIDRs[0] != "10.0.0.1" {
		t.Errorf("Apply result shares slices with its argument: %+v", base)
	}
}

func TestTokenParamsPopulateAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    TokenParams
		want logical.Auth
	}{
		{name: "zero", want: logical.Auth{Renewable: true}},
		{
			name: "everything",
			p: TokenParams{
				Policies: CommaStrings{"a", "b"}, TTL: Duration(time.Minute), MaxTTL: Duration(time.Hour),
				ExplicitMaxTTL: Duration(2 * time.Hour), Period: Duration(time.Second), NumUses: 4,
				Type: TokenTypeService, BoundCIDRs: CommaStrings{"10.0.0.0/8"}, NoDefaultPolicy: true,
			},
			want: logical.Auth{
				Policies: []string{"a", "b"}, TTL: time.Minute, MaxTTL: time.Hour, ExplicitMaxTTL: 2 * time.Hour,
				Period: time.Second, NumUses: 4, TokenType: "service", BoundCIDRs: []string{"10.0.0.0/8"},
				NoDefaultPolicy: true, Renewable: true,
			},
		},
		{name: "batch", p: TokenParams{Type: TokenTypeBatch}, want: logical.Auth{TokenType: "batch"}},
		{name: "default-batch", p: TokenParams{Type: TokenTypeDefaultBatch}, want: logical.Auth{TokenType: "batch"}},
		{name: "default-service", p: TokenParams{Type: TokenTypeDefaultService}, want: logical.Auth{TokenType: "service", Renewable: true}},
		{name: "default", p: TokenParams{Type: TokenTypeDefault}, want: logical.Auth{Renewable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got logical.Auth
			tt.p.PopulateAuth(&got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PopulateAuth mismatch (-want +got):\n%s", diff)
			}
			if len(tt.p.Policies) > 0 {
				got.Policies[0] = "changed"
				if tt.p.Policies[0] == "changed" {
					t.Error("PopulateAuth shares the policies slice")
				}
			}
		})
	}
}

func TestTokenParamsResponse(t *testing.T) {
	t.Parallel()
	p := TokenParams{
		Policies: CommaStrings{"a"}, TTL: Duration(90 * time.Second), MaxTTL: Duration(time.Hour + 500*time.Millisecond),
		Period: Duration(time.Minute), NumUses: 2, BoundCIDRs: CommaStrings{"127.0.0.1"},
	}
	tests := []struct {
		name string
		p    TokenParams
		want string
	}{
		{
			name: "zero",
			want: `{"token_policies":[],"token_ttl":0,"token_max_ttl":0,"token_explicit_max_ttl":0,"token_period":0,` +
				`"token_num_uses":0,"token_type":"default","token_bound_cidrs":[],"token_no_default_policy":false}`,
		},
		{
			name: "set",
			p:    p,
			want: `{"token_policies":["a"],"token_ttl":90,"token_max_ttl":3600,"token_explicit_max_ttl":0,"token_period":60,` +
				`"token_num_uses":2,"token_type":"default","token_bound_cidrs":["127.0.0.1"],"token_no_default_policy":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.p.Response())
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Response() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTokenParamsStoredRoundTrip(t *testing.T) {
	t.Parallel()
	p := TokenParams{
		Policies: CommaStrings{"a", "b"}, TTL: Duration(time.Minute), MaxTTL: Duration(time.Hour),
		ExplicitMaxTTL: Duration(3 * time.Hour), Period: Duration(time.Second), NumUses: 9,
		Type: TokenTypeDefaultService, BoundCIDRs: CommaStrings{"::1", "10.0.0.0/8"}, NoDefaultPolicy: true,
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got TokenParams
	if err := DecodeBody(b, &got); err != nil {
		t.Fatalf("DecodeBody(%s) error = %v", b, err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("round trip through %s mismatch (-want +got):\n%s", b, diff)
	}
}

func TestCIDRsAllow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		list []string
		ip   string
		want bool
	}{
		{name: "empty list allows", ip: "192.0.2.1", want: true},
		{name: "empty list allows unknown", ip: "", want: true},
		{name: "list refuses unknown", list: []string{"0.0.0.0/0"}, ip: "", want: false},
		{name: "single address", list: []string{"192.0.2.1"}, ip: "192.0.2.1", want: true},
		{name: "other address", list: []string{"192.0.2.1"}, ip: "192.0.2.2", want: false},
		{name: "block", list: []string{"10.0.0.0/8"}, ip: "10.200.3.4", want: true},
		{name: "outside block", list: []string{"10.0.0.0/8"}, ip: "11.0.0.1", want: false},
		{name: "second entry", list: []string{"10.0.0.0/8", "192.0.2.0/24"}, ip: "192.0.2.99", want: true},
		{name: "mapped v6 client", list: []string{"10.0.0.0/8"}, ip: "::ffff:10.1.2.3", want: true},
		{name: "v6 block", list: []string{"2001:db8::/32"}, ip: "2001:db8::5", want: true},
		{name: "v4 not in v6 block", list: []string{"::/0"}, ip: "10.0.0.1", want: false},
		{name: "unmasked block", list: []string{"10.1.2.3/8"}, ip: "10.9.9.9", want: true},
		{name: "garbage entry matches nothing", list: []string{"nope"}, ip: "10.0.0.1", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CIDRsAllow(tt.list, net.ParseIP(tt.ip)); got != tt.want {
				t.Errorf("CIDRsAllow(%q, %q) = %v, want %v", tt.list, tt.ip, got, tt.want)
			}
		})
	}
}

func TestCIDRsSubset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sub, super []string
		want       bool
	}{
		{sub: []string{"10.1.0.0/16"}, super: nil, want: true},
		{sub: nil, super: []string{"10.0.0.0/8"}, want: true},
		{sub: []string{"10.1.0.0/16"}, super: []string{"10.0.0.0/8"}, want: true},
		{sub: []string{"10.1.2.3"}, super: []string{"10.0.0.0/8"}, want: true},
		{sub: []string{"10.0.0.0/8"}, super: []string{"10.1.0.0/16"}, want: false},
		{sub: []string{"10.0.0.0/8", "192.0.2.0/24"}, super: []string{"10.0.0.0/8"}, want: false},
		{sub: []string{"10.0.0.0/8", "192.0.2.7"}, super: []string{"10.0.0.0/8", "192.0.2.0/24"}, want: true},
		{sub: []string{"2001:db8::/48"}, super: []string{"10.0.0.0/8"}, want: false},
		{sub: []string{"bad"}, super: []string{"10.0.0.0/8"}, want: false},
	}
	for _, tt := range tests {
		if got := CIDRsSubset(tt.sub, tt.super); got != tt.want {
			t.Errorf("CIDRsSubset(%q, %q) = %v, want %v", tt.sub, tt.super, got, tt.want)
		}
	}
}

func TestValidateCIDRs(t *testing.T) {
	t.Parallel()
	good := [][]string{nil, {"127.0.0.1"}, {"10.0.0.0/8", "::1", "2001:db8::/32", "::ffff:10.0.0.0/104"}}
	for _, list := range good {
		if err := ValidateCIDRs("f", list); err != nil {
			t.Errorf("ValidateCIDRs(%q) = %v, want nil", list, err)
		}
	}
	bad := [][]string{{""}, {"10.0.0.0/8", "x"}, {"10.0.0.0/40"}, {"fe80::1%eth0"}, {"::ffff:10.0.0.0/8"}, {"10.0.0.0/-1"}}
	for _, list := range bad {
		if err := ValidateCIDRs("f", list); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("ValidateCIDRs(%q) = %v, want ErrInvalidRequest", list, err)
		}
	}
}

func TestSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int64{0: 0, time.Second: 1, 1999 * time.Millisecond: 1, time.Hour: 3600} {
		if got := Seconds(d); got != want {
			t.Errorf("Seconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// FuzzTokenParams checks that decoding a token_* update never panics,
// fails only with ErrInvalidRequest, and that every accepted update yields
// parameters that validate, survive a storage round trip exactly and read
// back as a response that marshals.
func FuzzTokenParams(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"token_policies":"a,b","token_ttl":"1h","token_max_ttl":"2h"}`,
		`{"policies":["x"],"token_type":"batch","token_bound_cidrs":"10.0.0.0/8, ::1"}`,
		`{"token_num_uses":"5","token_period":60,"token_no_default_policy":"1"}`,
		`{"token_type":"batch","token_period":"1s"}`, `{"token_bound_cidrs":["x"]}`, `{"name":1}`, `{"token_ttl":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in roleBody
		if err := DecodeBody(body, &in); err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("DecodeBody(%q) error = %v, want ErrInvalidRequest", body, err)
			}
			return
		}
		p, err := in.Apply(TokenParams{})
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("Apply(%q) error = %v, want ErrInvalidRequest", body, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Apply(%q) result does not validate: %v", body, err)
		}
		stored, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back TokenParams
		if err := DecodeBody(stored, &back); err != nil {
			t.Fatalf("DecodeBody(stored %s) error = %v", stored, err)
		}
		again, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if string(stored) != string(again) {
			t.Fatalf("storage round trip differs: %s vs %s", stored, again)
		}
		if _, err := json.Marshal(p.Response()); err != nil {
			t.Fatalf("Response() does not marshal: %v", err)
		}
		var a logical.Auth
		p.PopulateAuth(&a)
		if a.NumUses < 0 || a.TTL < 0 || (a.TokenType == TokenTypeBatch && (a.Period > 0 || a.NumUses > 0)) {
			t.Fatalf("PopulateAuth(%+v) = %+v: impossible token", p, a)
		}
	})
}
