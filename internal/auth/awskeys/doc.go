// Package awskeys is the "awskeys" auth method: AWS-style access keys
// (an access key ID and a secret access key) that sign requests to
// Coffer's AWS Secrets Manager API with SigV4.
//
// keys/NAME creates a key with token policies and a TTL and answers its
// access key ID and secret access key, the secret only then (and at
// rotation); keys/NAME/rotate makes a new secret and keeps the old one
// valid for a grace period. The secrets are stored behind the barrier,
// since verifying a signature means recomputing its HMAC.
//
// Nothing here reads a signature. The awsauth package verifies requests:
// it reads a key's valid secrets with [Backend.SigningSecrets] and logs in
// with a one-use ticket from [Backend.LoginTicket], both Go calls made
// inside the server. The login path refuses anything but such a ticket,
// so the network cannot log in with a bare access key ID.
package awskeys
