package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Seal types.
const (
	// SealShamir splits the unseal key into key shares that operators
	// submit to sys/unseal; the default.
	SealShamir = "shamir"
	// SealStatic wraps the root key with a 32-byte key from a file or an
	// environment variable (OpenBao's static seal).
	SealStatic = "static"
	// SealTransit wraps the root key with a transit key of another Coffer
	// or Vault server (Vault's transit seal).
	SealTransit = "transit"
	// SealPKCS11 wraps the root key with a key in an HSM.
	SealPKCS11 = "pkcs11"
)

// sealTypes are the seal types Coffer knows.
func sealTypes() []string { return []string{SealShamir, SealStatic, SealTransit, SealPKCS11} }

// Seal is one seal block. Without one the server uses Shamir key shares.
// An auto seal (static, transit, pkcs11) unseals the server by itself at
// start and gives operators recovery keys instead of unseal keys. For a
// seal migration the file holds the new seal block and the old one with
// disabled = "true" (from Shamir, the old block may be left out).
type Seal struct {
	// Type is the block's label: "shamir", "static", "transit" or
	// "pkcs11".
	Type string
	// Disabled (disabled) marks the seal being migrated from.
	Disabled bool
	// Static, Transit and PKCS11 hold the settings of that type; exactly
	// the one matching Type is set (none for shamir).
	Static  *StaticSeal
	Transit *TransitSeal
	PKCS11  *PKCS11Seal
}

// StaticSeal is seal "static", OpenBao's keys. Each key is a reference:
// "file://PATH" (a file holding 32 raw bytes, or hex or base64), "env://NAME"
// (an environment variable holding hex or base64), or the hex or base64 key
// itself. Keeping the key next to the data is convenience, not
// protection.
type StaticSeal struct {
	// CurrentKeyID (current_key_id) names the current key; it must change
	// whenever the key does. Required.
	CurrentKeyID string
	// CurrentKey (current_key) wraps the root key. Required.
	CurrentKey Secret
	// PreviousKeyID (previous_key_id) and PreviousKey (previous_key), after
	// a key rotation, still unwrap what the previous key wrapped.
	PreviousKeyID string
	PreviousKey   Secret
}

// TransitSeal is seal "transit", Vault's keys. Each key may also come
// from Vault's environment variable for it, which wins over the file:
// VAULT_ADDR, VAULT_TOKEN, VAULT_TRANSIT_SEAL_KEY_NAME,
// VAULT_TRANSIT_SEAL_MOUNT_PATH, VAULT_NAMESPACE,
// VAULT_TRANSIT_SEAL_DISABLE_RENEWAL, VAULT_CACERT, VAULT_CLIENT_CERT,
// VAULT_CLIENT_KEY, VAULT_TLS_SERVER_NAME, VAULT_SKIP_VERIFY.
type TransitSeal struct {
	// Address (address) is the transit server's URL. Required.
	Address string
	// Token (token) authenticates to it. Required.
	Token Secret
	// KeyName (key_name) is the transit key. Required.
	KeyName string
	// MountPath (mount_path) is the transit engine's mount; default
	// "transit/".
	MountPath string
	// Namespace (namespace) must be empty: Coffer has no namespaces.
	Namespace string
	// DisableRenewal (disable_renewal) stops renewing the token.
	DisableRenewal bool
	// TLS (tls_ca_cert, tls_client_cert, tls_client_key,
	// tls_server_name, tls_skip_verify) for an https address.
	TLSCACert, TLSClientCert, TLSClientKey, TLSServerName string
	TLSSkipVerify                                         bool
}

// PKCS11Seal is seal "pkcs11": a key in an HSM reached through a PKCS#11
// library.
type PKCS11Seal struct {
	// Lib (lib) is the PKCS#11 library's path. Required.
	Lib string
	// Slot (slot) or TokenLabel (token_label) selects the token.
	Slot, TokenLabel string
	// PIN (pin) logs in to the token.
	PIN Secret
	// KeyLabel (key_label) names the key. Required.
	KeyLabel string
	// KeyID (key_id) is the key's CKA_ID in hexadecimal, to tell apart
	// keys sharing a label; empty finds the key by label alone.
	KeyID string
	// Mechanism (mechanism) is the wrapping mechanism as a CKM_* number,
	// decimal or "0x1087"; empty means CKM_AES_GCM, the one Coffer
	// supports.
	Mechanism string
	// GenerateKey (generate_key) creates the key in the token when no key
	// has KeyLabel.
	GenerateKey bool
}

// seal decodes the i-th seal block; nil when it cannot be used at all.
func (d *decoder) seal(b *hclsyntax.Block, i int) *Seal {
	if len(b.Labels) != 1 {
		d.ps.add(b.DefRange(), `seal block needs one label, the seal type, as in seal "static" { ... }`)
		return nil
	}
	t := b.Labels[0]
	if !slices.Contains(sealTypes(), t) {
		if slices.Contains(vaultSeals(), t) {
			d.ps.add(b.LabelRanges[0], "seal type %q is not supported: Coffer seals with shamir, static, transit or pkcs11", t)
			return nil
		}
		d.ps.add(b.LabelRanges[0], "unknown seal type %q; want shamir, static, transit or pkcs11%s", t, didYouMean(t, sealTypes()))
		return nil
	}
	prefix := fmt.Sprintf("seal[%d]", i)
	d.src.at[prefix] = origin{rng: b.DefRange()}
	s := &Seal{Type: t}
	fields := map[string]setter{"disabled": boolean(&s.Disabled)}
	switch t {
	case SealStatic:
		s.Static = &StaticSeal{}
		st := s.Static
		fields["current_key_id"] = str(&st.CurrentKeyID)
		fields["current_key"] = secret(&st.CurrentKey)
		fields["previous_key_id"] = str(&st.PreviousKeyID)
		fields["previous_key"] = secret(&st.PreviousKey)
	case SealTransit:
		s.Transit = &TransitSeal{}
		tr := s.Transit
		fields["address"] = str(&tr.Address)
		fields["token"] = secret(&tr.Token)
		fields["key_name"] = str(&tr.KeyName)
		fields["mount_path"] = str(&tr.MountPath)
		fields["namespace"] = str(&tr.Namespace)
		fields["disable_renewal"] = boolean(&tr.DisableRenewal)
		fields["tls_ca_cert"] = str(&tr.TLSCACert)
		fields["tls_client_cert"] = str(&tr.TLSClientCert)
		fields["tls_client_key"] = str(&tr.TLSClientKey)
		fields["tls_server_name"] = str(&tr.TLSServerName)
		fields["tls_skip_verify"] = boolean(&tr.TLSSkipVerify)
	case SealPKCS11:
		s.PKCS11 = &PKCS11Seal{}
		p := s.PKCS11
		fields["lib"] = str(&p.Lib)
		fields["slot"] = str(&p.Slot)
		fields["token_label"] = str(&p.TokenLabel)
		fields["pin"] = secret(&p.PIN)
		fields["key_label"] = str(&p.KeyLabel)
		fields["mechanism"] = str(&p.Mechanism)
		fields["key_id"] = str(&p.KeyID)
		fields["generate_key"] = boolean(&p.GenerateKey)
	}
	d.body(b.Body, schema{block: fmt.Sprintf("seal %q", t), prefix: prefix + ".", fields: fields})
	return s
}

// transitEnv lists Vault's environment variables of the transit seal.
// Each wins over the file's value.
func transitEnv(t *TransitSeal) []struct {
	name, key string
	set       func(string) error
} {
	b := func(p *bool) func(string) error {
		return func(v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "1", "t", "true":
				*p = true
			case "0", "f", "false":
				*p = false
			default:
				return fmt.Errorf("want true or false, got %q", v)
			}
			return nil
		}
	}
	s := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	return []struct {
		name, key string
		set       func(string) error
	}{
		{"VAULT_ADDR", "address", s(&t.Address)},
		{"VAULT_TOKEN", "token", func(v string) error { t.Token = Secret(v); return nil }},
		{"VAULT_TRANSIT_SEAL_KEY_NAME", "key_name", s(&t.KeyName)},
		{"VAULT_TRANSIT_SEAL_MOUNT_PATH", "mount_path", s(&t.MountPath)},
		{"VAULT_NAMESPACE", "namespace", s(&t.Namespace)},
		{"VAULT_TRANSIT_SEAL_DISABLE_RENEWAL", "disable_renewal", b(&t.DisableRenewal)},
		{"VAULT_CACERT", "tls_ca_cert", s(&t.TLSCACert)},
		{"VAULT_CLIENT_CERT", "tls_client_cert", s(&t.TLSClientCert)},
		{"VAULT_CLIENT_KEY", "tls_client_key", s(&t.TLSClientKey)},
		{"VAULT_TLS_SERVER_NAME", "tls_server_name", s(&t.TLSServerName)},
		{"VAULT_SKIP_VERIFY", "tls_skip_verify", b(&t.TLSSkipVerify)},
	}
}

// pkcs11Env lists Vault's environment variables of the pkcs11 seal. Each
// wins over the file's value.
func pkcs11Env(p *PKCS11Seal) []struct {
	name, key string
	set       func(string) error
} {
	s := func(q *string) func(string) error { return func(v string) error { *q = v; return nil } }
	return []struct {
		name, key string
		set       func(string) error
	}{
		{"VAULT_HSM_LIB", "lib", s(&p.Lib)},
		{"VAULT_HSM_SLOT", "slot", s(&p.Slot)},
		{"VAULT_HSM_TOKEN_LABEL", "token_label", s(&p.TokenLabel)},
		{"VAULT_HSM_PIN", "pin", func(v string) error { p.PIN = Secret(v); return nil }},
		{"VAULT_HSM_KEY_LABEL", "key_label", s(&p.KeyLabel)},
		{"VAULT_HSM_KEY_ID", "key_id", s(&p.KeyID)},
		{"VAULT_HSM_MECHANISM", "mechanism", s(&p.Mechanism)},
		{"VAULT_HSM_GENERATE_KEY", "generate_key", func(v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			p.GenerateKey = b
			return nil
		}},
	}
}

// sealEnv applies the transit and pkcs11 seals' environment variables.
func (c *Config) sealEnv(getenv func(string) string) {
	for i, s := range c.seals() {
		var env []struct {
			name, key string
			set       func(string) error
		}
		switch {
		case s.Transit != nil:
			env = transitEnv(s.Transit)
		case s.PKCS11 != nil:
			env = pkcs11Env(s.PKCS11)
		default:
			continue
		}
		for _, e := range env {
			v := getenv(e.name)
			if v == "" {
				continue
			}
			key := fmt.Sprintf("seal[%d].%s", i, e.key)
			c.src.at[key] = origin{env: e.name}
			delete(c.src.broken, key)
			if err := e.set(v); err != nil {
				c.src.envErrs = append(c.src.envErrs, envErr{key: key, msg: fmt.Sprintf("%s: %v", e.key, err)})
			}
		}
	}
}

// seals returns the seal blocks in the order their source keys number
// them: the enabled one first when both exist, as the parser meets them.
func (c *Config) seals() []*Seal {
	var out []*Seal
	for _, s := range []*Seal{c.Seal, c.DisabledSeal} {
		if s != nil {
			out = append(out, s)
		}
	}
	if c.src != nil && c.src.sealFirstDisabled && len(out) == 2 {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// validateSeals checks the seal blocks.
func (v *validator) seals() {
	if src := v.c.src; src != nil {
		for _, e := range src.envErrs {
			v.errorf(e.key, "%s", e.msg)
		}
	}
	for i, s := range v.c.seals() {
		key := fmt.Sprintf("seal[%d]", i)
		name := fmt.Sprintf("seal %q", s.Type)
		switch s.Type {
		case SealShamir:
		case SealStatic:
			st := s.Static
			if st.CurrentKeyID == "" {
				v.errorf(key+".current_key_id", "%s needs current_key_id", name)
			}
			if st.CurrentKey == "" {
				v.errorf(key+".current_key", "%s needs current_key (file://PATH, env://NAME or the key)", name)
			}
			if (st.PreviousKeyID == "") != (st.PreviousKey == "") {
				v.errorf(key+".previous_key", "%s: previous_key_id and previous_key go together", name)
			}
		case SealTransit:
			tr := s.Transit
			if tr.Address == "" {
				v.errorf(key+".address", "%s needs address (or VAULT_ADDR)", name)
			} else if err := checkAPIAddr(tr.Address); err != nil {
				v.errorf(key+".address", "address %q in %s: %v", tr.Address, name, err)
			}
			if tr.Token == "" {
				v.errorf(key+".token", "%s needs token (or VAULT_TOKEN)", name)
			}
			if tr.KeyName == "" {
				v.errorf(key+".key_name", "%s needs key_name (or VAULT_TRANSIT_SEAL_KEY_NAME)", name)
			}
			if tr.Namespace != "" {
				v.errorf(key+".namespace", "namespace in %s is not supported: Coffer has no namespaces, and the transit key would be looked up in the root namespace", name)
			}
		case SealPKCS11:
			p := s.PKCS11
			if p.Lib == "" {
				v.errorf(key+".lib", "%s needs lib, the PKCS#11 library's path", name)
			}
			if p.KeyLabel == "" {
				v.errorf(key+".key_label", "%s needs key_label (or VAULT_HSM_KEY_LABEL)", name)
			}
			if p.Slot == "" && p.TokenLabel == "" {
				v.errorf(key+".slot", "%s needs slot or token_label", name)
			}
			if p.Slot != "" {
				if _, err := strconv.ParseUint(p.Slot, 0, 32); err != nil {
					v.errorf(key+".slot", "slot %q in %s is not a slot number", p.Slot, name)
				}
			}
			if p.PIN == "" {
				v.errorf(key+".pin", "%s needs pin (or VAULT_HSM_PIN)", name)
			}
		default:
			v.errorf(key, "unknown seal type %q", s.Type)
		}
	}
	if c := v.c; c.Seal != nil && c.DisabledSeal != nil && c.Seal.Type == c.DisabledSeal.Type {
		v.errorf("seal[1]", "the enabled and the disabled seal blocks are both %q: a migration needs two seal types", c.Seal.Type)
	}
}
