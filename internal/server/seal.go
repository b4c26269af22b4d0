package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/seal"
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
		return nil, errors.New("pkcs11 seal is not built in yet")
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
