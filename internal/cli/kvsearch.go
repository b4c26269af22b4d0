package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// listPageSize is how many keys `kv list -r` asks for in one request,
// and searchPageSize how many secrets `kv search` asks for.
const (
	listPageSize   = 1000
	searchPageSize = 1000
)

// runKVListRecursive lists every key under t that the caller may see,
// page by page (LIST ...?recursive=true&after=...&limit=...), following
// next_after until an answer has none.
func runKVListRecursive(ctx context.Context, c *call, cl *api.Client, t kvTarget) int {
	p := t.apiPath("metadata")
	var keys []any
	var warnings []string
	after := ""
	for {
		q := map[string][]string{"list": {"true"}, "recursive": {"true"}, "limit": {strconv.Itoa(listPageSize)}}
		if after != "" {
			q["after"] = []string{after}
		}
		secret, err := cl.Logical().ReadWithDataWithContext(ctx, p, q)
		if err != nil {
			return c.serverError("listing", p, err)
		}
		if secret == nil || secret.Data == nil {
			break
		}
		page, _ := secret.Data["keys"].([]any)
		keys = append(keys, page...)
		// The server sets next_after when it stopped before the end: the
		// page is full, or it examined as many keys as one page may.
		next, _ := secret.Data["next_after"].(string)
		if next == "" || next <= after {
			warnings = secret.Warnings
			break
		}
		after = next
	}
	return c.printList(&api.Secret{Data: map[string]any{"keys": keys}, Warnings: warnings}, p)
}

// repeatFlag is a repeatable flag kept as given (no comma splitting, as
// a custom_metadata value may hold commas).
type repeatFlag []string

// Set implements flag.Value.
func (r *repeatFlag) Set(s string) error { *r = append(*r, s); return nil }

// String implements flag.Value.
func (r *repeatFlag) String() string {
	if r == nil {
		return ""
	}
	return strings.Join(*r, " ")
}

// searchFlags are the flags of kv search.
type searchFlags struct {
	glob, mount, createdBy      string
	meta                        repeatFlag
	notReadDays, notUpdatedDays int
	updatedBefore, updatedAfter string
}

// query turns the flags into sys/access/search's query parameters.
func (f *searchFlags) query(now time.Time) (url.Values, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q[k] = []string{v}
		}
	}
	set("glob", f.glob)
	set("mount", f.mount)
	set("created_by", f.createdBy)
	set("updated_before", f.updatedBefore)
	set("updated_after", f.updatedAfter)
	if len(f.meta) > 0 {
		q["meta"] = f.meta
	}
	days := func(name string, n int) (string, error) {
		if n < 0 {
			return "", fmt.Errorf("-%s must not be negative", name)
		}
		return now.Add(-time.Duration(n) * 24 * time.Hour).UTC().Format(time.RFC3339), nil
	}
	if f.notReadDays != 0 {
		s, err := days("not-read-days", f.notReadDays)
		if err != nil {
			return nil, err
		}
		q["not_read_since"] = []string{s}
	}
	if f.notUpdatedDays != 0 {
		if f.updatedBefore != "" {
			return nil, fmt.Errorf("give -not-updated-days or -updated-before, not both")
		}
		s, err := days("not-updated-days", f.notUpdatedDays)
		if err != nil {
			return nil, err
		}
		q["updated_before"] = []string{s}
	}
	return q, nil
}

// kvSearchCommands are `kv search`.
func kvSearchCommands() map[string]*command {
	return map[string]*command{
		"kv search": {
			synopsis: "Finds KV v2 secrets by path, metadata, age and creator",
			usage:    "[options]",
			help: `Searches the KV version 2 mounts the token may list for secrets that
match every filter given (GET sys/access/search, which needs sudo). Only
secrets the token may read or list are shown; values never are. Their
metadata is shown, and the filters on it (-meta, -not-read-days,
-not-updated-days, -updated-*, -created-by) match, only for secrets whose
metadata the token may read.

    $ coffer kv search -glob='secret/payments/**'
    $ coffer kv search -meta=owner=payments -not-read-days=90
    $ coffer kv search -created-by=<accessor or entity ID>`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f searchFlags
				fs.StringVar(&f.glob, "glob", "", `Path glob with the mount: "*" within a segment, "**" across segments, "?" one character.`)
				fs.StringVar(&f.mount, "mount", "", "Search only this mount.")
				fs.Var(&f.meta, "meta", "custom_metadata KEY=VALUE (or KEY: present); may be repeated, all must match.")
				fs.IntVar(&f.notReadDays, "not-read-days", 0, "Only secrets not read in this many days (or never read since tracking began).")
				fs.IntVar(&f.notUpdatedDays, "not-updated-days", 0, "Only secrets not updated in this many days.")
				fs.StringVar(&f.updatedBefore, "updated-before", "", "Only secrets last updated before this RFC 3339 time.")
				fs.StringVar(&f.updatedAfter, "updated-after", "", "Only secrets last updated after this RFC 3339 time.")
				fs.StringVar(&f.createdBy, "created-by", "", "Only secrets whose current version was written by this token accessor or entity ID.")
				return func(ctx context.Context, c *call, args []string) int { return runKVSearch(ctx, c, args, &f) }
			},
		},
	}
}

// searchHit is one secret of a search answer.
type searchHit struct {
	Mount             string            `json:"mount"`
	Path              string            `json:"path"`
	CurrentVersion    int               `json:"current_version"`
	CreatedTime       string            `json:"created_time"`
	UpdatedTime       string            `json:"updated_time"`
	LastReadTime      string            `json:"last_read_time"`
	CreatedByAccessor string            `json:"created_by_accessor"`
	CreatedByEntityID string            `json:"created_by_entity_id"`
	CustomMetadata    map[string]string `json:"custom_metadata"`
	ExpireTime        string            `json:"expire_time"`
}

func runKVSearch(ctx context.Context, c *call, args []string, f *searchFlags) int {
	if len(args) > 0 {
		return c.usageError("kv search takes no arguments, only flags")
	}
	q, err := f.query(time.Now())
	if err != nil {
		return c.usageError("%v", err)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	const p = "sys/access/search"
	q.Set("limit", strconv.Itoa(searchPageSize))
	hits := []searchHit{}
	for {
		secret, err := cl.Logical().ReadWithDataWithContext(ctx, p, q)
		if err != nil {
			return c.serverError("searching", p, err)
		}
		if secret == nil || secret.Data == nil {
			break
		}
		raw, err := json.Marshal(secret.Data["secrets"])
		if err != nil {
			return c.serverError("searching", p, err)
		}
		var page []searchHit
		if err := json.Unmarshal(raw, &page); err != nil {
			return c.serverError("searching", p, err)
		}
		hits = append(hits, page...)
		next, _ := secret.Data["next_after"].(string)
		if next == "" || next <= q.Get("after") {
			break
		}
		q.Set("after", next)
	}
	if c.format == "json" {
		return c.printJSONOrFail(hits)
	}
	if len(hits) == 0 {
		fmt.Fprintln(c.env.Stderr, "No secrets found")
		return exitServer
	}
	rows := [][]string{{"Path", "Version", "Updated", "Last read", "Created by"}, {"----", "-------", "-------", "---------", "----------"}}
	for _, h := range hits {
		by := h.CreatedByEntityID
		if by == "" {
			by = h.CreatedByAccessor
		}
		version := "-" // the token may not read the metadata: path only
		if h.CurrentVersion > 0 {
			version = strconv.Itoa(h.CurrentVersion)
		}
		rows = append(rows, []string{h.Mount + h.Path, version, orDash(h.UpdatedTime), orDash(h.LastReadTime), orDash(by)})
	}
	t, _ := table(rows)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
