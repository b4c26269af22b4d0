package server

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/seal/pkcs11"
	"github.com/coffer-secrets/coffer/internal/seal/static"
	"github.com/coffer-secrets/coffer/internal/seal/transit"
)

// newSeal builds the auto seal a seal block names; nil for Shamir (or no
// block). Adding a seal type is one case here.
func newSeal(s *config.Seal, getenv func(string) string, logger *slog.Logger) (seal.Wrapper, error) {
	if s == nil {
		return nil, nil
	}
	switch s.Type {
	case config.SealShamir:
		return nil, nil
	case config.SealStatic:
		return newStaticSeal(s.Static, getenv)
	case config.SealTransit:
		t := s.Transit
		w, err := transit.New(transit.Options{
			Address:        t.Address,
			Token:          string(t.Token),
			KeyName:        t.KeyName,
			MountPath:      t.MountPath,
			DisableRenewal: t.DisableRenewal,
			TLSCACert:      t.TLSCACert,
			TLSClientCert:  t.TLSClientCert,
			TLSClientKey:   t.TLSClientKey,
			TLSServerName:  t.TLSServerName,
			TLSSkipVerify:  t.TLSSkipVerify,
			Logger:         logger.With("component", "seal.transit"),
		})
		if err != nil {
			return nil, err
		}
		return w, nil
	case config.SealPKCS11:
		return newPKCS11Seal(s.PKCS11, logger)
	default:
		return nil, fmt.Errorf("seal %q is not available in this version", s.Type)
	}
}

func newStaticSeal(s *config.StaticSeal, getenv func(string) string) (seal.Wrapper, error) {
	cur, err := static.LoadKey(string(s.CurrentKey), getenv)
	if err != nil {
		return nil, fmt.Errorf("static seal: current_key: %w", err)
	}
	defer clear(cur)
	opts := static.Options{CurrentKeyID: s.CurrentKeyID, CurrentKey: cur, PreviousKeyID: s.PreviousKeyID}
	if s.PreviousKey != "" {
		prev, err := static.LoadKey(string(s.PreviousKey), getenv)
		if err != nil {
			return nil, fmt.Errorf("static seal: previous_key: %w", err)
		}
		defer clear(prev)
		opts.PreviousKey = prev
	}
	w, err := static.New(opts)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// sealRunner is a seal with background work (the transit seal renews its
// token).
type sealRunner interface {
	Run(ctx context.Context) error
}

// newPKCS11Seal opens the HSM key a seal "pkcs11" block names. It runs
// before the server listens; an HSM that cannot be reached is a start
// error naming the library, never the PIN.
func newPKCS11Seal(p *config.PKCS11Seal, logger *slog.Logger) (seal.Wrapper, error) {
	o := pkcs11.Options{
		Lib:         p.Lib,
		TokenLabel:  p.TokenLabel,
		PIN:         pkcs11.PIN(p.PIN),
		KeyLabel:    p.KeyLabel,
		KeyID:       p.KeyID,
		GenerateKey: p.GenerateKey,
		Logger:      logger.With("component", "seal.pkcs11"),
	}
	if p.Slot != "" {
		n, err := strconv.ParseUint(p.Slot, 0, 32)
		if err != nil {
			return nil, fmt.Errorf("pkcs11 seal: slot %q is not a slot number", p.Slot)
		}
		slot := uint(n)
		o.Slot = &slot
	}
	if p.Mechanism != "" {
		m, err := pkcs11.ParseMechanism(p.Mechanism)
		if err != nil {
			return nil, fmt.Errorf("pkcs11 seal: mechanism: %w", err)
		}
		o.Mechanism = m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := pkcs11.New(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 seal (lib %s): %w", p.Lib, err)
	}
	return w, nil
}
