package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/duration"
)

// emptyCell is what a table shows for an empty value, as the vault binary.
const emptyCell = "n/a"

// columnGap separates table columns.
const columnGap = "    "

// table renders rows as aligned columns. Empty cells print as "n/a". It
// returns the rendered text and the width of its widest line.
func table(rows [][]string) (string, int) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if cell == "" {
				cell = emptyCell
			}
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	maxLine := 0
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r {
			if cell == "" {
				cell = emptyCell
			}
			line.WriteString(cell)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)))
				line.WriteString(columnGap)
			}
		}
		maxLine = max(maxLine, utf8.RuneCountInString(line.String()))
		b.WriteString(line.String())
		b.WriteByte('\n')
	}
	return b.String(), maxLine
}

// kvTable renders a Key/Value table with the header rows. The width it
// returns, for centring a section header over the table, is that of the
// key column plus the gap and the word "Value", as the vault binary sizes
// its headers (long values do not widen them).
func kvTable(pairs [][2]string) (string, int) {
	rows := make([][]string, 0, len(pairs)+2)
	rows = append(rows, []string{"Key", "Value"}, []string{"---", "-----"})
	keyWidth := len("Key")
	for _, p := range pairs {
		rows = append(rows, []string{p[0], p[1]})
		keyWidth = max(keyWidth, utf8.RuneCountInString(p[0]))
	}
	t, _ := table(rows)
	return t, keyWidth + len(columnGap) + len("Value")
}

// mapPairs returns the entries of m sorted by key, values formatted.
func mapPairs(m map[string]any) [][2]string {
	pairs := make([][2]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		pairs = append(pairs, [2]string{k, formatValue(m[k])})
	}
	return pairs
}

// formatValue prints a decoded JSON value for a table cell.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "<nil>"
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

// sectionHeader centres title in '=' signs over a table width wide, with at
// least two signs on each side: "=== Data ===".
func sectionHeader(title string, width int) string {
	fill := max(width-len(title)-2, 4)
	side := strings.Repeat("=", fill/2)
	return side + " " + title + " " + side
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printField prints one value raw, as -field does. Like the vault binary it
// ends the value with a newline only when stdout is a terminal, so that
// `coffer kv get -field=cert ... > file` writes exactly the value. With
// -format=json the value is printed as JSON instead.
func (c *call) printField(v any) int {
	w := c.env.Stdout
	if c.format == "json" {
		if err := printJSON(w, v); err != nil {
			fmt.Fprintln(c.env.Stderr, err)
			return exitUsage
		}
		return exitOK
	}
	fmt.Fprint(w, formatValue(v))
	if isTerminal(w) {
		fmt.Fprintln(w)
	}
	return exitOK
}

// printSecretField prints the field named by -field from data, or from the
// secret's lease and auth information. A missing field is a usage error.
func (c *call) printSecretField(secret *api.Secret, data map[string]any) int {
	if v, ok := data[c.field]; ok {
		return c.printField(v)
	}
	if v, ok := secretFields(secret)[c.field]; ok {
		return c.printField(v)
	}
	fmt.Fprintf(c.env.Stderr, "Field %q not present in secret\n", c.field)
	return exitUsage
}

// secretFields returns the lease and auth values of a response under the
// names the table output uses.
func secretFields(s *api.Secret) map[string]any {
	f := map[string]any{}
	if s == nil {
		return f
	}
	if s.LeaseDuration > 0 || s.LeaseID != "" {
		f["lease_id"] = s.LeaseID
		f["lease_duration"] = humanDuration(s.LeaseDuration)
		f["lease_renewable"] = s.Renewable
	}
	if a := s.Auth; a != nil {
		f["token"] = a.ClientToken
		f["token_accessor"] = a.Accessor
		f["token_duration"] = humanDuration(a.LeaseDuration)
		f["token_renewable"] = a.Renewable
		f["token_policies"] = a.TokenPolicies
		f["identity_policies"] = a.IdentityPolicies
		f["policies"] = a.Policies
		for k, v := range a.Metadata {
			f["token_meta_"+k] = v
		}
	}
	return f
}

// authPairs are the table rows of a response's auth block, as the vault
// binary prints them: policy lists quoted (["default" "app"]) and one
// token_meta_KEY row per metadata entry, sorted by key.
func authPairs(a *api.SecretAuth) [][2]string {
	pairs := [][2]string{
		{"token", a.ClientToken},
		{"token_accessor", a.Accessor},
		{"token_duration", humanDuration(a.LeaseDuration)},
		{"token_renewable", fmt.Sprint(a.Renewable)},
		{"token_policies", fmt.Sprintf("%q", a.TokenPolicies)},
		{"identity_policies", fmt.Sprintf("%q", a.IdentityPolicies)},
		{"policies", fmt.Sprintf("%q", a.Policies)},
	}
	for _, k := range slices.Sorted(maps.Keys(a.Metadata)) {
		pairs = append(pairs, [2]string{"token_meta_" + k, a.Metadata[k]})
	}
	return pairs
}

// isTTLKey reports whether a data key holds a duration in seconds that the
// table output shows as a duration ("768h"), as the vault binary does:
// "ttl", "period" and keys ending in "_ttl" or "_period".
func isTTLKey(k string) bool {
	return k == "ttl" || k == "period" || strings.HasSuffix(k, "_ttl") || strings.HasSuffix(k, "_period")
}

// ttlCellValue prints a duration-valued data field for a table: whole
// seconds become "1h30m" ("0s" for zero); anything else prints as is.
func ttlCellValue(v any) string {
	var secs int64
	switch v := v.(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return v.String()
		}
		secs = n
	case float64:
		if v != float64(int64(v)) {
			return formatValue(v)
		}
		secs = int64(v)
	case string:
		d, err := duration.Parse(v)
		if err != nil {
			return v
		}
		secs = int64(d / time.Second)
	default:
		return formatValue(v)
	}
	if secs == 0 {
		return "0s"
	}
	if secs < 0 || secs > int64(1<<63-1)/int64(time.Second) {
		return formatValue(v)
	}
	return humanDuration(int(secs))
}

// dataPairs returns the entries of a response's data sorted by key, with
// duration fields shown as durations.
func dataPairs(m map[string]any) [][2]string {
	pairs := make([][2]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := formatValue(m[k])
		if isTTLKey(k) {
			v = ttlCellValue(m[k])
		}
		pairs = append(pairs, [2]string{k, v})
	}
	return pairs
}

// humanDuration prints seconds the way the vault binary does: "768h",
// "30m", "1h30m", and "∞" for zero on tokens.
func humanDuration(secs int) string {
	if secs == 0 {
		return "∞"
	}
	d := (time.Duration(secs) * time.Second).String()
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return d
}

// printSecret prints a response to a generic read or write in the chosen
// format: -field, JSON of the whole response, or a Key/Value table.
func (c *call) printSecret(secret *api.Secret) int {
	if c.field != "" {
		return c.printSecretField(secret, secret.Data)
	}
	if c.format == "json" {
		return c.printJSONOrFail(secret)
	}
	c.warnings(secret.Warnings)
	var pairs [][2]string
	if secret.LeaseDuration > 0 || secret.LeaseID != "" {
		if secret.LeaseID != "" {
			pairs = append(pairs,
				[2]string{"lease_id", secret.LeaseID},
				[2]string{"lease_duration", humanDuration(secret.LeaseDuration)},
				[2]string{"lease_renewable", fmt.Sprint(secret.Renewable)})
		} else {
			pairs = append(pairs, [2]string{"refresh_interval", humanDuration(secret.LeaseDuration)})
		}
	}
	if a := secret.Auth; a != nil {
		pairs = append(pairs, authPairs(a)...)
	}
	pairs = append(pairs, dataPairs(secret.Data)...)
	if len(pairs) == 0 {
		return exitOK
	}
	t, _ := kvTable(pairs)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

// printJSONOrFail prints v as JSON on stdout.
func (c *call) printJSONOrFail(v any) int {
	if err := printJSON(c.env.Stdout, v); err != nil {
		fmt.Fprintln(c.env.Stderr, err)
		return exitUsage
	}
	return exitOK
}

// printList prints the "keys" of a list response, or reports that there are
// none at path.
func (c *call) printList(secret *api.Secret, path string) int {
	if secret == nil || secret.Data == nil {
		return c.notFound(path)
	}
	raw, ok := secret.Data["keys"].([]any)
	if !ok || len(raw) == 0 {
		return c.notFound(path)
	}
	if c.format == "json" {
		return c.printJSONOrFail(raw)
	}
	c.warnings(secret.Warnings)
	rows := [][]string{{"Keys"}, {"----"}}
	for _, k := range raw {
		rows = append(rows, []string{formatValue(k)})
	}
	t, _ := table(rows)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

// success prints a one-line result message on stdout.
func (c *call) success(format string, args ...any) int {
	fmt.Fprintf(c.env.Stdout, "Success! "+format+"\n", args...)
	return exitOK
}
