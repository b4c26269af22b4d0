// Package e2e holds end-to-end tests that need the whole server and real
// outside systems together: dynamic database credentials with leases on
// the local PostgreSQL and MariaDB, PKI certificates used for mutual TLS,
// login with TLS client certificates, the aws command line against the AWS
// Secrets Manager API. It has no code of its own.
package e2e
