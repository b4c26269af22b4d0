// Package awsauth verifies AWS Signature Version 4 requests made with
// access keys of the awskeys auth method and answers the Coffer client
// token that such a request acts with.
//
// [Verifier] checks a request's signature: it parses the Authorization
// header, checks the signed headers, the payload hash, the date against a
// skew window and the credential scope, recomputes the signature with the
// AWS SDK's signer for each valid secret of the key and compares in
// constant time, then refuses a signature it has already accepted within
// the window (replay). [New] wraps it into an [Authenticator] that turns a
// verified key into a token, through a login on the awskeys mount.
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

// The AWS error codes this package answers.
const (
	// CodeMissingAuthenticationToken: no Authorization header.
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	// CodeIncompleteSignature: a malformed Authorization header or a
	// required header missing or unsigned.
	CodeIncompleteSignature = "IncompleteSignatureException"
	// CodeInvalidSignature: the signature does not match, the date is out
	// of the window, the scope is wrong, or the signature was replayed.
	CodeInvalidSignature = "InvalidSignatureException"
	// CodeUnrecognizedClient: no such access key.
	CodeUnrecognizedClient = "UnrecognizedClientException"
	// CodeThrottling: too many requests to remember for replay protection.
	CodeThrottling = "ThrottlingException"
	// CodeServiceUnavailable: the server cannot authenticate now (sealed,
	// or no awskeys method where configured).
	CodeServiceUnavailable = "ServiceUnavailable"
	// CodeInternalFailure: an unexpected server-side failure.
	CodeInternalFailure = "InternalFailure"
)

// signatureMismatch is AWS's message for a signature that does not match.
const signatureMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

func missingAuth() *Error {
	return &Error{Code: CodeMissingAuthenticationToken, Message: "Missing Authentication Token", Status: http.StatusForbidden}
}

func incomplete(msg string) *Error {
	return &Error{Code: CodeIncompleteSignature, Message: msg, Status: http.StatusBadRequest}
}

func invalidSignature(msg string) *Error {
	return &Error{Code: CodeInvalidSignature, Message: msg, Status: http.StatusBadRequest}
}

func unrecognizedClient() *Error {
	return &Error{Code: CodeUnrecognizedClient, Message: "The security token included in the request is invalid.", Status: http.StatusBadRequest}
}

func throttled() *Error {
	return &Error{Code: CodeThrottling, Message: "Rate exceeded", Status: http.StatusBadRequest}
}

func internalFailure() *Error {
	return &Error{Code: CodeInternalFailure, Message: "An internal error occurred while authenticating the request.", Status: http.StatusInternalServerError}
}
