// Package pgtable is the one check of the PostgreSQL table names Coffer
// puts into SQL unquoted: the storage backend's [Check] of the name it
// opens, and the configuration's [CheckQualified] of the table key, which
// may name a schema. Both apply the same rule to the table itself, so a
// configuration that validates opens.
//
// It imports only the standard library, so the configuration can check
// names without loading the database driver.
package pgtable

import (
	"fmt"
	"strings"
)

// MaxLen is the longest table name: PostgreSQL's limit of 63 bytes less
// room for the suffixes of the companion tables named after it.
const MaxLen = 48

// maxSchemaLen is PostgreSQL's limit on an identifier.
const maxSchemaLen = 63

// Check returns an error unless name is a plain lowercase identifier of at
// most [MaxLen] bytes: a letter or "_", then letters, digits or "_". The
// error quotes name and says what to write.
func Check(name string) error {
	if !ident(name, MaxLen) {
		return fmt.Errorf("table name %q: want a lowercase letter or _ followed by lowercase letters, digits or _ (at most %d bytes)", name, MaxLen)
	}
	return nil
}

// CheckQualified checks a table as a configuration file names it: a table
// name, optionally after a schema and a dot ("coffer.kv"), in any case
// (PostgreSQL folds unquoted names to lower case, and so does the server).
// The table must pass [Check] once lowercased; the schema is an identifier
// of at most 63 bytes.
func CheckQualified(s string) error {
	lower := strings.ToLower(s)
	schema, table, qualified := strings.Cut(lower, ".")
	if !qualified {
		table = schema
	} else if !ident(schema, maxSchemaLen) {
		return fmt.Errorf("schema of table %q: want a letter or _ followed by letters, digits or _ (at most %d bytes)", s, maxSchemaLen)
	}
	if !ident(table, MaxLen) {
		return fmt.Errorf("table name %q: want a letter or _ followed by letters, digits or _ (at most %d bytes), optionally after a schema and a dot", s, MaxLen)
	}
	return nil
}

// ident reports whether s is a lowercase SQL identifier of 1 to max bytes.
func ident(s string, max int) bool {
	if s == "" || len(s) > max || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c != '_' && (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}
