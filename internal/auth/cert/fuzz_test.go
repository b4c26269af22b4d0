package cert

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// FuzzCertEntryWrite writes random PEM as a certificate entry: it must
// never panic, must be refused with ErrInvalidRequest without touching
// storage, or else be stored exactly and be usable by login.
func FuzzCertEntryWrite(f *testing.F) {
	tp := newTestPKI(f, testNow)
	f.Add([]byte(pemOf(tp.root.cert)))
	f.Add([]byte(pemOf(tp.root.cert, tp.inter.cert, tp.web)))
	f.Add([]byte(pemOf(tp.selfSigned) + "\n\n"))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x82, 0x01}}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("k")}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	f.Add([]byte(""))
	f.Add([]byte{0xff, 0xfe, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		h := newHarness(t)
		body, err := json.Marshal(map[string]string{"certificate": string(raw)})
		if err != nil {
			t.Fatal(err)
		}
		var sent struct{ Certificate string }
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatal(err)
		}
		_, err = h.Do(opCreate, "certs/fuzz", string(body))
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("write: error = %v, want ErrInvalidRequest", err)
			}
			if n := len(h.Storage.Snapshot()); n != 0 {
				t.Fatalf("refused write left %d storage entries", n)
			}
			return
		}
		resp := h.Must(opRead, "certs/fuzz", nil)
		if got := resp.Data.(*certResponse).Certificate; got != sent.Certificate {
			t.Fatalf("stored certificate differs from the one written")
		}
		if _, err := parseCertificates(sent.Certificate); err != nil {
			t.Fatalf("accepted certificate does not parse again: %v", err)
		}
		// Login with any chain against the entry must not panic or fail
		// with anything but a refusal.
		if _, err := h.login("", tp.web, tp.inter.cert); err != nil && !errors.Is(err, logical.ErrInvalidCredentials) {
			t.Fatalf("login: %v", err)
		}
	})
}

// FuzzCRLWrite writes random PEM as a CRL: it must never panic and must be
// refused with ErrInvalidRequest or stored so that reading it back lists
// the same serials as parsing it.
func FuzzCRLWrite(f *testing.F) {
	p := newPKI(f, testNow)
	ca := p.ca("fuzz", nil)
	f.Add([]byte(p.crl(ca, big.NewInt(1), big.NewInt(99))))
	f.Add([]byte(p.crl(ca)))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{0x30, 0}}))
	f.Add([]byte(pemOf(ca.cert)))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h := newHarness(t)
		body := mustJSON(t, map[string]string{"crl": string(raw)})
		_, err := h.Do(opUpdate, "crls/fuzz", string(body))
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("write: error = %v, want ErrInvalidRequest", err)
			}
			return
		}
		var sent struct{ CRL string }
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatal(err)
		}
		want, err := parseCRL(sent.CRL)
		if err != nil {
			t.Fatalf("accepted CRL does not parse again: %v", err)
		}
		got := h.Must(opRead, "crls/fuzz", nil).Data.(*crlResponse).Serials
		if len(got) != len(want) {
			t.Fatalf("read %d serials, want %d", len(got), len(want))
		}
		for _, s := range want {
			if _, ok := got[s]; !ok {
				t.Fatalf("serial %s missing from the read", s)
			}
		}
	})
}
