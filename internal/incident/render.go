package incident

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report formats.
const (
	FormatTable    = "table"
	FormatJSON     = "json"
	FormatMarkdown = "markdown"
)

// Render writes rep in format (FormatTable, FormatJSON or
// FormatMarkdown).
func Render(w io.Writer, rep *Report, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case FormatMarkdown:
		return renderMarkdown(w, rep)
	case FormatTable, "":
		return renderTable(w, rep)
	}
	return fmt.Errorf("unknown report format %q: want table, json or markdown", format)
}

func versions(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.FormatInt(v, 10)
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func since(t time.Time) string {
	if t.IsZero() {
		return "the start of the log"
	}
	return t.Format(time.RFC3339)
}

func trust(rep *Report) string {
	if rep.Trusted {
		return "verified: " + rep.Verification
	}
	return "UNTRUSTED: " + rep.Verification
}

func renderTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Incident:\t%s\n", rep.Incident)
	fmt.Fprintf(tw, "Since:\t%s\n", since(rep.Since))
	fmt.Fprintf(tw, "Audit log:\t%s\n", trust(rep))
	for _, p := range rep.Problems {
		fmt.Fprintf(tw, "  problem:\t%s\n", p)
	}
	fmt.Fprintf(tw, "Entries:\t%d lines, %d by the contained identities\n", rep.Lines, rep.Matched)
	fmt.Fprintf(tw, "\nSECRETS READ (%d)\n", len(rep.Reads))
	if len(rep.Reads) > 0 {
		fmt.Fprintln(tw, "PATH\tVERSIONS\tREADS\tFIRST\tLAST\tSOURCES")
		for _, r := range rep.Reads {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Path, versions(r.Versions), r.Count, r.First, r.Last, strings.Join(r.Sources, ","))
		}
	}
	events := []struct {
		title string
		list  []Event
	}{{"CREDENTIALS ISSUED", rep.Credentials}, {"WRITES", rep.Writes}, {"LOGINS", rep.Logins}, {"REFUSED REQUESTS", rep.Refused}}
	for _, e := range events {
		fmt.Fprintf(tw, "\n%s (%d)\n", e.title, len(e.list))
		if len(e.list) == 0 {
			continue
		}
		fmt.Fprintln(tw, "TIME\tOPERATION\tPATH\tSOURCE\tDETAIL")
		for _, ev := range e.list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ev.Time, ev.Operation, ev.Path, ev.Source, detail(ev))
		}
	}
	return tw.Flush()
}

func detail(ev Event) string {
	switch {
	case ev.LeaseID != "":
		d := "lease " + ev.LeaseID
		if ev.Username != "" {
			d += ", user " + ev.Username
		}
		return d
	case ev.Error != "":
		return ev.Error
	}
	return ""
}

// md escapes a table cell.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func renderMarkdown(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "# Incident %s\n\n", md(rep.Incident))
	fmt.Fprintf(w, "- Since: %s\n- Audit log: %s\n- Entries: %d lines, %d by the contained identities\n", since(rep.Since), md(trust(rep)), rep.Lines, rep.Matched)
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  - problem: %s\n", md(p))
	}
	fmt.Fprintf(w, "\n## Secrets read (%d)\n\n", len(rep.Reads))
	if len(rep.Reads) > 0 {
		fmt.Fprintln(w, "| Path | Versions | Reads | First | Last | Sources |\n| --- | --- | --- | --- | --- | --- |")
		for _, r := range rep.Reads {
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s |\n", md(r.Path), versions(r.Versions), r.Count, r.First, r.Last, md(strings.Join(r.Sources, ", ")))
		}
	}
	for _, e := range []struct {
		title string
		list  []Event
	}{{"Credentials issued", rep.Credentials}, {"Writes", rep.Writes}, {"Logins", rep.Logins}, {"Refused requests", rep.Refused}} {
		fmt.Fprintf(w, "\n## %s (%d)\n\n", e.title, len(e.list))
		if len(e.list) == 0 {
			continue
		}
		fmt.Fprintln(w, "| Time | Operation | Path | Source | Detail |\n| --- | --- | --- | --- | --- |")
		for _, ev := range e.list {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", ev.Time, ev.Operation, md(ev.Path), md(ev.Source), md(detail(ev)))
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}
