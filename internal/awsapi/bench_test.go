package awsapi_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/hashicorp/vault/api"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGet runs GetSecretValue with c from parallel goroutines and
// reports the process CPU per request (client and server: they share
// the process; the client's part is SDK signing and HTTP).
func benchGet(b *testing.B, c *sm.Client) {
	in := &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db")}
	if _, err := c.GetSecretValue(b.Context(), in); err != nil {
		b.Fatal(err)
	}
	start := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetSecretValue(b.Context(), in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkGetSecretValue measures GetSecretValue on the server's own
// listener, signed with SigV4 by the official SDK and verified by the
// server (awsauth), through the whole pipeline (token, ACL, audit-less
// KV read). docs/performance.md records the numbers.
func BenchmarkGetSecretValue(b *testing.B) {
	e := newSignedEnvNoAudit(b)
	if _, err := e.ts.Client.KVv2("secret").Put(b.Context(), "prod/payments/db", map[string]any{"SecretString": "pay"}); err != nil {
		b.Fatal(err)
	}
	b.Run("sigv4", func(b *testing.B) { benchGet(b, sdkClient(e.ts.Addr, e.keyID, e.secret)) })
	// The same requests with a fixed token and no signature check: the
	// difference is what SigV4 verification costs.
	b.Run("no-sigv4", func(b *testing.B) {
		tok, err := e.ts.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"payments"}})
		if err != nil {
			b.Fatal(err)
		}
		benchGet(b, newEnvOn(b, e.ts, tok.Auth.ClientToken).client())
	})
}

// BenchmarkPutSecretValue measures PutSecretValue (one core write: the
// version with its VersionId and labels) from one client, with a fixed
// token, so that the figure is the write path's; max_versions keeps the
// secret small. docs/performance.md records the numbers.
func BenchmarkPutSecretValue(b *testing.B) {
	e := newEnv(b)
	c := e.client()
	ctx := b.Context()
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("bench/put"), SecretString: aws.String("v0")}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.ts.Client.Logical().Write("secret/metadata/bench/put", map[string]any{"max_versions": 5}); err != nil {
		b.Fatal(err)
	}
	for _, stages := range [][]string{{"AWSCURRENT"}, {"AWSPENDING"}} {
		b.Run(stages[0], func(b *testing.B) {
			in := &sm.PutSecretValueInput{SecretId: aws.String("bench/put"), SecretString: aws.String("value"), VersionStages: stages}
			start := cpuTime(b)
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.PutSecretValue(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
