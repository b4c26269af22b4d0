// Package pki is the PKI secrets engine: an internal certificate authority
// that issues short-lived X.509 certificates for services (mTLS), with
// Vault's PKI paths, JSON shapes and semantics.
//
// # What it serves
//
// Issuers are CA certificates with private keys held by the mount: a root
// made by root/generate, or an intermediate whose key is made by
// intermediate/generate and whose certificate, signed elsewhere (for
// example by another mount's root/sign-intermediate), comes back through
// intermediate/set-signed. Roles (roles/:name) say which names, key types,
// lifetimes and usages a certificate may have; issue/:role makes a key and
// a certificate, sign/:role signs a CSR. Certificates can be read back by
// serial number (cert/:serial, LIST certs), revoked (revoke), and are then
// listed on the issuer's CRL (crl, crl/pem, crl/rotate). tidy removes
// expired certificates, and config/auto-tidy makes [Backend.Periodic] do
// it on a schedule. config/crl sets the CRLs' lifetime (expiry) or empties
// them (disable); its other fields are stored and shown only.
//
// config/urls sets the issuing certificate, CRL distribution point and
// OCSP URLs put into every certificate the mount signs (leaves, signed
// intermediates, new roots) and, for the issuing certificates, into its
// CRLs (an Authority Information Access extension); an issuer's own URLs
// (issuer/:ref) replace the mount's. With enable_templating the URLs may
// use {{issuer_id}}, {{cluster_path}} and {{cluster_aia_path}}, the last
// two from config/cluster.
//
// A role with generate_lease gives each certificate a lease as long as
// the certificate; revoking the lease revokes the certificate
// ([Backend.RevokeSecret]), and the lease cannot be renewed.
//
// # Rules
//
// A certificate never outlives its issuer: its lifetime is capped by the
// requested ttl, the role's max_ttl, the mount's maximum TTL and the
// issuer's NotAfter. A request for a name the role does not allow is
// refused with an [logical.ErrInvalidRequest] error saying which name and
// why. Serial numbers are 20 random octets with the top bit cleared.
// Glob patterns in allowed_uri_sans match within one path segment: "*"
// never matches "/", so spiffe://cluster/ns/*/sa/* cannot be stretched over
// extra segments (Vault's globs would match across them).
//
// # Storage layout
//
//	config/issuers        the default issuer
//	config/urls           the mount's AIA and CRL distribution point URLs
//	config/cluster        the mount's path and AIA path, for templated URLs
//	config/crl            CRL settings
//	config/auto-tidy      automatic tidy settings
//	auto-tidy/last        when auto-tidy last ran
//	key/<key id>          a private key (PKCS #8), with its name
//	issuer/<issuer id>    a CA certificate, its key ID and imported parents
//	role/<name>           a role
//	certs/<serial>        an issued certificate (DER), serial as aa-bb-...
//	revoked/<serial>      a revocation: time, issuer and certificate
//	crl/<issuer id>       an issuer's current CRL and its number
//
// # Concurrency and caching
//
// A backend is safe for concurrent use. Changes to keys, issuers, the
// default issuer, revocations and CRLs are serialised by one mutex.
// Issuance takes no lock: it reads the parsed issuers and their signers
// from an in-memory snapshot that is rebuilt from storage after any change
// (and after [Backend.Invalidate]), and writes one storage entry per
// certificate (none with no_store).
//
// This package imports logical and logical/framework, never core, httpapi
// or testing.
package pki
