// Package awsauth verifies AWS Signature Version 4 requests made with
// access keys of the awskeys auth method and answers the Coffer client
// token that such a request acts with.
package awsauth

import (
	"context"
	"net/http"
)

// Authenticator verifies a SigV4-signed AWS request and answers the
// Coffer client token to act with (the key's policies and entity).
type Authenticator interface {
	// Authenticate checks r's signature over body (the whole request
	// body, already read and bounded by the caller) and answers a client
	// token. Every failure is an *Error.
	Authenticate(ctx context.Context, r *http.Request, body []byte) (clientToken string, err error)
}

// Error is an authentication failure in AWS's words: Code is the AWS error
// code (the JSON protocol's __type), Message its text and Status the HTTP
// status AWS answers with.
type Error struct {
	Code    string
	Message string
	Status  int
}

// Error answers the code and message.
func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}
