// Package database is the database secrets engine: it speaks Vault's
// database engine API to hand out short-lived database users (roles/ and
// creds/), to rotate the passwords of existing users on a schedule
// (static-roles/ and static-creds/), and to rotate the password Coffer
// itself connects with (rotate-root/).
//
// Two families of databases are built in, chosen by a connection's
// plugin_name: PostgreSQL ("postgresql-database-plugin", through pgx's
// database/sql adapter) and MySQL or MariaDB ("mysql-database-plugin" and
// its aurora, rds and legacy variants, through go-sql-driver/mysql). A
// connection_url holds {{username}} and {{password}}; they are filled into
// the parsed connection settings, never spliced into the URL text.
//
// # Paths
//
//	config/:name        connections (LIST config/)
//	reset/:name         close and reopen a connection's pool
//	rotate-root/:name   rotate the connection's own password
//	roles/:name         dynamic roles (LIST roles/)
//	creds/:name         a new database user, leased
//	static-roles/:name  static roles (LIST static-roles/)
//	static-creds/:name  a static role's current password
//	rotate-role/:name   rotate a static role now
//
// # Storage
//
//	config/<name>       connection, with its password and any pending one
//	role/<name>         dynamic role
//	static-role/<name>  static role, with its password, any pending one,
//	                    the last rotation and the next rotation time
//
// A role (dynamic or static) must name an existing connection, but, as in
// Vault, it is stored even when the connection's allowed_roles excludes
// it: the write answers with a warning, and creds/, static-creds/ and
// rotations refuse the role (ErrInvalidRequest naming allowed_roles) until
// allowed_roles includes it. A new static role's first rotation waits for
// that too.
//
// # Statements
//
// Statements are templates with only {{name}}, {{password}} and
// {{expiration}}; any other placeholder is refused when a role is written.
// A statement list item may hold several statements separated by ";"
// (quotes and PostgreSQL dollar quotes are respected). Values are put in
// as they are, so generated user names are limited to letters, digits,
// "_", "-" and "." and generated passwords never contain quotes,
// backslashes or NUL.
//
// # Password rotation without loss
//
// A rotation (rotate-root, or a static role's) first stores the new
// password as pending, then changes it in the database, then makes it the
// current password. A crash or failure after the first step leaves the
// pending password stored; Periodic (and, for the root password, the next
// use of the connection) sets that same password again and completes the
// rotation. Setting a password twice is harmless, so this works whether or
// not the earlier attempt reached the database. For a root rotation the
// completion first tries the stored password and, if the database refuses
// it, the pending one. A static role's static-creds answer the last
// completed password while a rotation is pending.
//
// # Leases
//
// creds/ responses carry a renewable [logical.Secret] whose internal data
// names the user, the role and the connection. RevokeSecret and
// RenewSecret are idempotent: revoking a user that is gone succeeds.
//
// # Concurrency
//
// The backend is safe for concurrent use. Pools are cached per connection
// and closed when the connection is written, deleted or reset, and by
// Cleanup. Writes to one connection, role or static role are serialised by
// striped mutexes; a role's lock is always taken before a connection's.
// The package imports logical, logical/framework, the two drivers and the
// standard library; never core.
package database
