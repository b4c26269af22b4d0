package awsauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Defaults of [VerifierOptions].
const (
	// DefaultSkew is AWS's window: a request dated more than this before
	// or after the server's clock is refused.
	DefaultSkew = 5 * time.Minute
	// DefaultMaxReplay is how many accepted signatures are remembered.
	DefaultMaxReplay = 100_000
	// Service is the only service name accepted in a credential scope.
	Service = "secretsmanager"
)

// amzDateFormat is the layout of X-Amz-Date.
const amzDateFormat = "20060102T150405Z"

// SecretsFunc answers the secret access keys valid now for accessKeyID,
// or none when there is no such key.
type SecretsFunc func(ctx context.Context, accessKeyID string) ([]string, error)

// VerifierOptions configure a [Verifier]. Zero values take the defaults.
type VerifierOptions struct {
	// Skew is the accepted distance between X-Amz-Date and now.
	Skew time.Duration
	// MaxReplay bounds the signatures remembered against replay; when it
	// is reached and none has expired, requests are refused with
	// ThrottlingException until some do.
	MaxReplay int
	// Now tells the time; nil is time.Now.
	Now func() time.Time
}

// Verifier checks SigV4 signatures. It is safe for concurrent use.
type Verifier struct {
	skew   time.Duration
	now    func() time.Time
	replay *replayCache
}

// NewVerifier returns a Verifier with opts.
func NewVerifier(opts VerifierOptions) *Verifier {
	if opts.Skew <= 0 {
		opts.Skew = DefaultSkew
	}
	if opts.MaxReplay <= 0 {
		opts.MaxReplay = DefaultMaxReplay
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{
		skew:   opts.Skew,
		now:    opts.Now,
		replay: &replayCache{max: opts.MaxReplay, seen: map[string]time.Time{}},
	}
}

// Verify checks the signature of r over body with the secrets that
// secrets answers for its access key, and answers that access key ID.
// Every failure is an *Error; the cause of a failure of secrets itself is
// returned as cause for the server log, with an InternalFailure error.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte, secrets SecretsFunc) (accessKeyID string, aerr *Error, cause error) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", missingAuth(), nil
	}
	if len(h) > 1 {
		return "", incomplete("Only one Authorization header is allowed."), nil
	}
	a, aerr := parseAuthorization(h[0])
	if aerr != nil {
		return "", aerr, nil
	}
	if a.Service != Service {
		return "", invalidSignature("Credential should be scoped to correct service: '" + Service + "'."), nil
	}
	if !a.signs("host") {
		return "", incomplete("'Host' must be a signed header."), nil
	}
	if !a.signs("x-amz-date") {
		return "", incomplete("'X-Amz-Date' must be a signed header."), nil
	}
	dates := r.Header.Values("X-Amz-Date")
	if len(dates) != 1 {
		return "", incomplete("Authorization header requires existence of exactly one 'X-Amz-Date' header."), nil
	}
	date, err := time.Parse(amzDateFormat, dates[0])
	if err != nil {
		return "", incomplete("X-Amz-Date should be of the form YYYYMMDD'T'HHMMSS'Z'."), nil
	}
	if date.Format("20060102") != a.Date {
		return "", invalidSignature("Credential should be scoped to a valid date: '" + date.Format("20060102") + "'."), nil
	}
	now := v.now().UTC()
	if date.Before(now.Add(-v.skew)) {
		return "", invalidSignature("Signature expired: " + dates[0] + " is now earlier than " + now.Add(-v.skew).Format(amzDateFormat) + " (" + now.Format(amzDateFormat) + " - " + v.skew.String() + ")."), nil
	}
	if date.After(now.Add(v.skew)) {
		return "", invalidSignature("Signature not yet current: " + dates[0] + " is still later than " + now.Add(v.skew).Format(amzDateFormat) + " (" + now.Format(amzDateFormat) + " + " + v.skew.String() + ")."), nil
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if ph := r.Header.Values("X-Amz-Content-Sha256"); len(ph) > 0 && (len(ph) > 1 || ph[0] != payloadHash) {
		return "", invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed."), nil
	}
	copied, aerr := signedCopy(r, a)
	if aerr != nil {
		return "", aerr, nil
	}
	keys, err := secrets(ctx, a.AccessKeyID)
	if err != nil {
		return "", internalFailure(), err
	}
	if len(keys) == 0 {
		return "", unrecognizedClient(), nil
	}
	matched := false
	for _, secret := range keys {
		ok, err := v.matches(ctx, copied, a, secret, payloadHash, date)
		if err != nil {
			return "", internalFailure(), err
		}
		matched = matched || ok
	}
	if !matched {
		return "", invalidSignature(signatureMismatch), nil
	}
	if aerr := v.replay.add(a.Signature, date.Add(v.skew), now); aerr != nil {
		return "", aerr, nil
	}
	return a.AccessKeyID, nil, nil
}

// matches signs a fresh copy of the request with secret and compares the
// signature with the client's in constant time.
func (v *Verifier) matches(ctx context.Context, base *http.Request, a *authorization, secret, payloadHash string, date time.Time) (bool, error) {
	req := base.Clone(ctx)
	creds := aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: secret}
	// A new signer each time: the SDK's signer caches derived signing
	// keys by access key ID, service and region, not by secret, so a
	// shared one would sign with a key derived from another secret of
	// the same access key (an old one after rotation, say).
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, a.Service, a.Region, date); err != nil {
		return false, err
	}
	ours, perr := parseAuthorization(req.Header.Get("Authorization"))
	if perr != nil {
		return false, perr
	}
	same := subtle.ConstantTimeCompare([]byte(ours.Signature), []byte(a.Signature)) == 1
	return same && ours.SignedHeadersRaw == a.SignedHeadersRaw, nil
}

// signedCopy answers a request with r's method, path, query and host and
// only the headers a signs, which the SDK's signer then signs as the
// client did.
func signedCopy(r *http.Request, a *authorization) (*http.Request, *Error) {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	c := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}}
	total := 0
	for _, name := range a.SignedHeaders {
		switch name {
		case "host":
			continue
		case "content-length":
			if r.ContentLength <= 0 {
				return nil, invalidSignature(signatureMismatch)
			}
			c.ContentLength = r.ContentLength
			continue
		}
		vals := r.Header.Values(name)
		if len(vals) == 0 {
			return nil, incomplete("Signed header '" + name + "' is missing from the request.")
		}
		for _, val := range vals {
			total += len(val)
		}
		if total > maxSignedHeaderBytes {
			return nil, incomplete("Signed headers are too long.")
		}
		c.Header[http.CanonicalHeaderKey(name)] = vals
	}
	return c, nil
}

// replayCache remembers accepted signatures until they could no longer
// pass the date check. Its size is bounded: when full of live entries it
// refuses instead of growing.
type replayCache struct {
	max  int
	mu   sync.Mutex
	seen map[string]time.Time // guarded by mu; signature -> when it expires
	next time.Time            // guarded by mu; earliest expiry, for sweeping
}

// add records sig until expires, or answers an error when sig is already
// recorded (a replay) or the cache is full.
func (c *replayCache) add(sig string, expires, now time.Time) *Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.seen[sig]; ok && now.Before(exp) {
		return invalidSignature("The request signature has already been used: sign each request anew.")
	}
	if len(c.seen) >= c.max && !now.Before(c.next) {
		c.next = time.Time{}
		for s, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, s)
			} else if c.next.IsZero() || exp.Before(c.next) {
				c.next = exp
			}
		}
	}
	if len(c.seen) >= c.max {
		return throttled()
	}
	c.seen[sig] = expires
	if c.next.IsZero() || expires.Before(c.next) {
		c.next = expires
	}
	return nil
}
