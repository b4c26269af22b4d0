package hclvalue

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
)

type secret string

// TestSetters runs each setter over the forms Vault's configuration files
// use, and over values it must refuse with a message that says what to
// write.
func TestSetters(t *testing.T) {
	t.Parallel()
	strs := func(ss ...string) cty.Value {
		vs := make([]cty.Value, len(ss))
		for i, s := range ss {
			vs[i] = cty.StringVal(s)
		}
		return cty.TupleVal(vs)
	}
	tests := []struct {
		name    string
		set     func(p *any) Setter
		in      cty.Value
		want    any
		wantErr string
	}{
		{name: "string", set: into(String[string]), in: cty.StringVal("a b"), want: "a b"},
		{name: "string from number", set: into(String[string]), in: cty.NumberIntVal(5), wantErr: "want a string, got number"},
		{name: "secret type", set: into(String[secret]), in: cty.StringVal("s3cr3t"), want: secret("s3cr3t")},
		{name: "secret from bool", set: into(String[secret]), in: cty.True, wantErr: "want a string, got bool"},
		{name: "strings", set: into(Strings), in: strs("a", "b"), want: []string{"a", "b"}},
		{name: "strings from string", set: into(Strings), in: cty.StringVal("a"), wantErr: "want a list of strings, got string"},
		{name: "strings with a number", set: into(Strings), in: cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.NumberIntVal(1)}), wantErr: "want a list of strings"},
		{name: "comma list string", set: into(CommaList), in: cty.StringVal(" a, b,,c "), want: []string{"a", "b", "c"}},
		{name: "comma list list", set: into(CommaList), in: strs("a"), want: []string{"a"}},
		{name: "comma list number", set: into(CommaList), in: cty.NumberIntVal(1), wantErr: "want a comma-separated string or a list of strings"},
		{name: "bool true", set: into(Bool), in: cty.True, want: true},
		{name: "bool 1", set: into(Bool), in: cty.NumberIntVal(1), want: true},
		{name: "bool 0", set: into(Bool), in: cty.NumberIntVal(0), want: false},
		{name: "bool string", set: into(Bool), in: cty.StringVal("true"), want: true},
		{name: "bool string 0", set: into(Bool), in: cty.StringVal("0"), want: false},
		{name: "bool 2", set: into(Bool), in: cty.NumberIntVal(2), wantErr: "want true, false, 1 or 0"},
		{name: "bool maybe", set: into(Bool), in: cty.StringVal("maybe"), wantErr: `want true, false, 1 or 0, got "maybe"`},
		{name: "bool list", set: into(Bool), in: strs(), wantErr: "want true or false, got tuple"},
		{name: "int64", set: into(Int64), in: cty.NumberIntVal(-7), want: int64(-7)},
		{name: "int64 string", set: into(Int64), in: cty.StringVal(" 1024 "), want: int64(1024)},
		{name: "int64 fraction", set: into(Int64), in: cty.NumberFloatVal(1.5), wantErr: "want a whole number, got 1.5"},
		{name: "int64 huge", set: into(Int64), in: cty.NumberFloatVal(1e30), wantErr: "1e+30 is out of range"},
		{name: "int64 word", set: into(Int64), in: cty.StringVal("ten"), wantErr: `want a whole number, got "ten"`},
		{name: "int64 bool", set: into(Int64), in: cty.True, wantErr: "want a whole number, got bool"},
		{name: "int in range", set: into(intRange), in: cty.NumberIntVal(10), want: 10},
		{name: "int below range", set: into(intRange), in: cty.NumberIntVal(-2), wantErr: "-2 is out of range (-1 to 100)"},
		{name: "int above range", set: into(intRange), in: cty.StringVal("101"), wantErr: "101 is out of range (-1 to 100)"},
		{name: "float", set: into(Float), in: cty.NumberFloatVal(0.25), want: 0.25},
		{name: "float string", set: into(Float), in: cty.StringVal("0.25"), wantErr: "want a number, got string"},
		{name: "duration seconds", set: into(Duration), in: cty.NumberIntVal(90), want: 90 * time.Second},
		{name: "duration string seconds", set: into(Duration), in: cty.StringVal("90"), want: 90 * time.Second},
		{name: "duration go", set: into(Duration), in: cty.StringVal("1h30m"), want: 90 * time.Minute},
		{name: "duration days", set: into(Duration), in: cty.StringVal("7d"), want: 7 * 24 * time.Hour},
		{name: "duration negative number", set: into(Duration), in: cty.NumberIntVal(-1), wantErr: "duration -1 must not be negative"},
		{name: "duration negative string", set: into(Duration), in: cty.StringVal("-5m"), wantErr: `duration "-5m" must not be negative`},
		{name: "duration fraction", set: into(Duration), in: cty.NumberFloatVal(1.5), wantErr: `want whole seconds or a duration such as "30s": want a whole number, got 1.5`},
		{name: "duration huge", set: into(Duration), in: cty.NumberIntVal(math.MaxInt64), wantErr: "is out of range"},
		{name: "duration word", set: into(Duration), in: cty.StringVal("soon"), wantErr: `invalid duration "soon"`},
		{name: "duration bool", set: into(Duration), in: cty.True, wantErr: "want whole seconds or a duration such as"},
		{name: "one of", set: into(oneOfAB), in: cty.StringVal("b"), want: "b"},
		{name: "one of other", set: into(oneOfAB), in: cty.StringVal("B"), wantErr: `want one of a, b, got "B"`},
		{name: "one of number", set: into(oneOfAB), in: cty.NumberIntVal(1), wantErr: "want a string, got number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got any
			err := tt.set(&got)(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("set(%#v) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				if got != nil {
					t.Fatalf("set(%#v) failed but stored %v", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("set(%#v) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("set(%#v) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// into adapts a typed setter to store into *any, and only on success, so
// one table covers every setter.
func into[T any](mk func(*T) Setter) func(*any) Setter {
	return func(out *any) Setter {
		return func(v cty.Value) error {
			var x T
			if err := mk(&x)(v); err != nil {
				return err
			}
			*out = x
			return nil
		}
	}
}

func intRange(p *int) Setter   { return Int(p, -1, 100) }
func oneOfAB(p *string) Setter { return OneOf(p, "a", "b") }

// TestErrorsNeverQuoteAString checks that a string setter's error never
// holds the value, which may be a secret.
func TestErrorsNeverQuoteAString(t *testing.T) {
	t.Parallel()
	var s secret
	err := String(&s)(cty.ListVal([]cty.Value{cty.StringVal("hunter2")}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("String error = %v, want one without the value", err)
	}
}
