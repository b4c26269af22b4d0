// Package archtest holds tests that keep Coffer's package structure honest.
// The layering is data (layers_test.go): an allow-list of the module's
// packages each package may import, which every package must be in, and
// rules on what packages depend on through other packages (engines and
// auth methods know only the logical contract and never import each
// other; the coffer binary carries no test code). Checked too: a package
// comment on every package. It has no code of its own.
package archtest
