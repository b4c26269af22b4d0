// Package archtest holds tests that keep Coffer's package structure honest:
// forbidden imports between layers, and a package comment on every
// package. It has no code of its own.
package archtest
