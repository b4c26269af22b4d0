package awsauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testKeyID  = "CKIAABCDEFGHIJKLMNOP"
	testSecret = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY00"
	testOld    = "oldSecretoldSecretoldSecretoldSecretold0"
)

var testNow = time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)

// signed answers a server-side request as a client signing body with the
// real SDK signer at signingTime would send it.
func signed(t testing.TB, secret, service string, signingTime time.Time, body []byte) *http.Request {
	t.Helper()
	c, err := http.NewRequest(http.MethodPost, "http://coffer.test:8200/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c.Header.Set("Content-Type", "application/x-amz-json-1.1")
	c.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	c.Header.Set("Amz-Sdk-Invocation-Id", fmt.Sprintf("%d", signingTime.UnixNano()))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, c, hex.EncodeToString(sum[:]), service, "eu-west-1", signingTime); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewRequest(http.MethodPost, "http://coffer.test:8200/", bytes.NewReader(body))
	s.Header = c.Header.Clone()
	return s
}

func testSecrets(_ context.Context, id string) ([]string, error) {
	if id == testKeyID {
		return []string{testSecret, testOld}, nil
	}
	return nil, nil
}

func TestVerify(t *testing.T) {
	body := []byte(`{"SecretId":"prod/payments/db"}`)
	tests := []struct {
		name     string
		req      func(t *testing.T) (*http.Request, []byte)
		wantCode string
	}{
		{"good", func(t *testing.T) (*http.Request, []byte) { return signed(t, testSecret, Service, testNow, body), body }, ""},
		{"good with the previous secret", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, testOld, Service, testNow.Add(-time.Second), body), body
		}, ""},
		{"wrong secret", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, "x"+testSecret[1:], Service, testNow, body), body
		}, CodeInvalidSignature},
		{"tampered body", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, testSecret, Service, testNow, body), []byte(`{"SecretId":"prod/payments/dc"}`)
		}, CodeInvalidSignature},
		{"tampered header", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Set("X-Amz-Target", "secretsmanager.DeleteSecret")
			return r, body
		}, CodeInvalidSignature},
		{"tampered host", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Host = "other.test:8200"
			return r, body
		}, CodeInvalidSignature},
		{"expired date", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, testSecret, Service, testNow.Add(-6*time.Minute), body), body
		}, CodeInvalidSignature},
		{"future date", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, testSecret, Service, testNow.Add(6*time.Minute), body), body
		}, CodeInvalidSignature},
		{"other service", func(t *testing.T) (*http.Request, []byte) { return signed(t, testSecret, "s3", testNow, body), body }, CodeInvalidSignature},
		{"no authorization", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Del("Authorization")
			return r, body
		}, CodeMissingAuthenticationToken},
		{"no x-amz-date", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Del("X-Amz-Date")
			return r, body
		}, CodeIncompleteSignature},
		{"signed header missing", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Del("X-Amz-Target")
			return r, body
		}, CodeIncompleteSignature},
		{"host not signed", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";host;", ";", 1))
			return r, body
		}, CodeIncompleteSignature},
		{"payload hash header mismatch", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			return r, body
		}, CodeInvalidSignature},
		{"unknown key", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testKeyID, "CKIAZZZZZZZZZZZZZZZZ", 1))
			return r, body
		}, CodeUnrecognizedClient},
		{"malformed authorization", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=abc")
			return r, body
		}, CodeIncompleteSignature},
		{"sigv2", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, testSecret, Service, testNow, body)
			r.Header.Set("Authorization", "AWS "+testKeyID+":c2lnbmF0dXJl")
			return r, body
		}, CodeIncompleteSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(VerifierOptions{Now: func() time.Time { return testNow }})
			r, b := tt.req(t)
			id, aerr, cause := v.Verify(context.Background(), r, b, testSecrets)
			if cause != nil {
				t.Fatalf("cause: %v", cause)
			}
			if tt.wantCode == "" {
				if aerr != nil {
					t.Fatalf("Verify: %v", aerr)
				}
				if id != testKeyID {
					t.Fatalf("id = %q", id)
				}
				return
			}
			if aerr == nil || aerr.Code != tt.wantCode {
				t.Fatalf("Verify error = %v, want code %s", aerr, tt.wantCode)
			}
			if aerr.Status < 400 || aerr.Message == "" {
				t.Fatalf("error %+v lacks a status or message", aerr)
			}
			if strings.Contains(aerr.Message, testSecret) {
				t.Fatal("error quotes the secret")
			}
		})
	}
}

func TestVerifyRefusesReplay(t *testing.T) {
	body := []byte(`{}`)
	now := testNow
	v := NewVerifier(VerifierOptions{Now: func() time.Time { return now }})
	r := signed(t, testSecret, Service, testNow, body)
	if _, aerr, _ := v.Verify(context.Background(), r, body, testSecrets); aerr != nil {
		t.Fatal(aerr)
	}
	r2 := signed(t, testSecret, Service, testNow, body)
	if _, aerr, _ := v.Verify(context.Background(), r2, body, testSecrets); aerr == nil || aerr.Code != CodeInvalidSignature || !strings.Contains(aerr.Message, "already been used") {
		t.Fatalf("replay: %v", aerr)
	}
	// Past the window the replay is refused as expired.
	now = testNow.Add(6 * time.Minute)
	if _, aerr, _ := v.Verify(context.Background(), r2, body, testSecrets); aerr == nil || !strings.Contains(aerr.Message, "expired") {
		t.Fatalf("late replay: %v", aerr)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := &replayCache{max: 2, seen: map[string]time.Time{}}
	exp := testNow.Add(time.Minute)
	for _, s := range []string{"a", "b"} {
		if err := c.add(s, exp, testNow); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.add("c", exp, testNow); err == nil || err.Code != CodeThrottling {
		t.Fatalf("full cache: %v", err)
	}
	if len(c.seen) != 2 {
		t.Fatalf("cache grew to %d", len(c.seen))
	}
	// Once the entries expire, room is made.
	if err := c.add("c", exp.Add(time.Minute), exp); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if len(c.seen) != 1 {
		t.Fatalf("expired entries kept: %d", len(c.seen))
	}
}

func TestParseAuthorization(t *testing.T) {
	good := "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261207/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32)
	a, err := parseAuthorization(good)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKeyID != testKeyID || a.Date != "20261207" || a.Region != "eu-west-1" || a.Service != "secretsmanager" || a.SignedHeadersRaw != "host;x-amz-date" {
		t.Fatalf("parsed %+v", a)
	}
	bad := []string{
		"",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA1 Credential=a/20261207/r/s/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("ab", 32),
		strings.Replace(good, "aws4_request", "aws5_request", 1),
		strings.Replace(good, "20261207", "2026127", 1),
		strings.Replace(good, "host;x-amz-date", "x-amz-date;host", 1),
		strings.Replace(good, "host;x-amz-date", "Host;x-amz-date", 1),
		strings.Replace(good, "host;x-amz-date", "host;;x-amz-date", 1),
		strings.Replace(good, strings.Repeat("ab", 32), strings.Repeat("AB", 32), 1),
		strings.Replace(good, strings.Repeat("ab", 32), "abc", 1),
		good + ", Signature=" + strings.Repeat("ab", 32),
		good + ", Extra=1",
		"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + strings.Repeat("ab", 32),
		good + strings.Repeat(" ", maxAuthorizationBytes),
	}
	for _, h := range bad {
		if _, err := parseAuthorization(h); err == nil || err.Code != CodeIncompleteSignature {
			t.Errorf("parseAuthorization(%.60q) = %v, want IncompleteSignature", h, err)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261207/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=,Signature=")
	f.Add("AWS x:y")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if (a == nil) == (err == nil) {
			t.Fatalf("parse answered both or neither: %v %v", a, err)
		}
		if err != nil {
			if err.Code != CodeIncompleteSignature || err.Status != http.StatusBadRequest {
				t.Fatalf("error %+v", err)
			}
			return
		}
		if len(h) > maxAuthorizationBytes || !isLowerHex(a.Signature, 64) || !isDate(a.Date) || len(a.SignedHeaders) > maxSignedHeaders || a.AccessKeyID == "" {
			t.Fatalf("accepted bad header %q as %+v", h, a)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"SecretId":"prod/payments/db"}`)
	v := NewVerifier(VerifierOptions{Now: func() time.Time { return testNow }, MaxReplay: b.N + 1})
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = signedWithID(b, body, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, aerr, _ := v.Verify(context.Background(), reqs[i], body, testSecrets); aerr != nil {
			b.Fatal(aerr)
		}
	}
}

// signedWithID is signed with invocation ID i, so that each request has
// its own signature.
func signedWithID(t testing.TB, body []byte, i int) *http.Request {
	t.Helper()
	c, _ := http.NewRequest(http.MethodPost, "http://coffer.test:8200/", bytes.NewReader(body))
	c.Header.Set("Content-Type", "application/x-amz-json-1.1")
	c.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	c.Header.Set("Amz-Sdk-Invocation-Id", fmt.Sprint(i))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, c, hex.EncodeToString(sum[:]), Service, "eu-west-1", testNow); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewRequest(http.MethodPost, "http://coffer.test:8200/", bytes.NewReader(body))
	s.Header = c.Header.Clone()
	return s
}

// TestVerifyAfterRotation checks that a secret no longer valid is refused
// even right after it was used (the SDK signer's cache of derived keys is
// keyed by access key ID, not by secret).
func TestVerifyAfterRotation(t *testing.T) {
	body := []byte(`{}`)
	v := NewVerifier(VerifierOptions{Now: func() time.Time { return testNow }})
	only := func(s string) SecretsFunc {
		return func(context.Context, string) ([]string, error) { return []string{s}, nil }
	}
	if _, aerr, _ := v.Verify(context.Background(), signedWithID(t, body, 1), body, only(testSecret)); aerr != nil {
		t.Fatal(aerr)
	}
	if _, aerr, _ := v.Verify(context.Background(), signedWithID(t, body, 2), body, only(testOld)); aerr == nil || aerr.Code != CodeInvalidSignature {
		t.Fatalf("request signed with a secret rotated away: %v", aerr)
	}
}

// FuzzVerify sends arbitrary Authorization, X-Amz-Date and payload hash
// headers and bodies: Verify must answer an AWS error (never panic, never
// accept) unless the request is the signed one.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"SecretId":"a"}`)
	good := signedWithID(f, body, 7)
	f.Add(good.Header.Get("Authorization"), good.Header.Get("X-Amz-Date"), "", string(body))
	f.Add("AWS4-HMAC-SHA256 Credential=CKIAABCDEFGHIJKLMNOP/20261207/r/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64), "20261207T200000Z", "", "")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, authz, date, sha, b string) {
		v := NewVerifier(VerifierOptions{Now: func() time.Time { return testNow }})
		r := httptest.NewRequest(http.MethodPost, "http://coffer.test:8200/", strings.NewReader(b))
		r.Header = good.Header.Clone()
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", date)
		if sha != "" {
			r.Header.Set("X-Amz-Content-Sha256", sha)
		}
		id, aerr, cause := v.Verify(context.Background(), r, []byte(b), testSecrets)
		if cause != nil {
			t.Fatalf("cause %v", cause)
		}
		if aerr == nil {
			if authz != good.Header.Get("Authorization") || b != string(body) || id != testKeyID {
				t.Fatalf("accepted a request not signed as sent: %q", authz)
			}
			return
		}
		if aerr.Code == "" || aerr.Status < 400 || aerr.Message == "" {
			t.Fatalf("error %+v", aerr)
		}
	})
}
