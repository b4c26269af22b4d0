package audit

import (
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Config is an audit device's settings, parsed from the options of
// sys/audit/:path or of the configuration file.
type Config struct {
	// Type is "file" or "socket".
	Type string
	// LogRaw is log_raw: secrets are written as they are.
	LogRaw bool
	// RawAccessor is hmac_accessor=false.
	RawAccessor bool
	// CheckpointEvery is checkpoint_every; 0 means the default.
	CheckpointEvery int
	// File holds a file device's settings. ParseConfig never sets
	// AllowedDirs nor AllowAnyDir: the integrator does, from the server
	// configuration.
	File FileOptions
	// Socket holds a socket device's settings.
	Socket SocketOptions
	// Witness, for a file device, is where copies of its signed
	// checkpoints go (witness_address, witness_type,
	// witness_write_timeout); nil for none.
	Witness *WitnessOptions
}

// The options each device type accepts.
var (
	commonOptions = []string{"format", "log_raw", "hmac_accessor", "checkpoint_every"}
	fileOptions   = []string{"file_path", "path", "mode", "witness_address", "witness_type", "witness_write_timeout"}
	socketOptions = []string{"address", "socket_type", "write_timeout"}
)

// ParseConfig checks and decodes the options for a device of type typ.
// Unknown options (such as Vault's "prefix") are refused. Errors are
// [logical.ErrInvalidRequest] errors naming the option.
func ParseConfig(typ string, options map[string]string) (Config, error) {
	c := Config{Type: typ}
	var allowed []string
	switch typ {
	case "file":
		allowed = fileOptions
	case "socket":
		allowed = socketOptions
	default:
		return Config{}, logical.InvalidRequest("unknown audit device type %q", typ)
	}
	keys := make([]string, 0, len(options))
	for k := range options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(commonOptions, k) && !slices.Contains(allowed, k) {
			return Config{}, logical.InvalidRequest("audit device type %q has no option %q", typ, k)
		}
	}
	if f, ok := options["format"]; ok && f != "json" {
		return Config{}, logical.InvalidRequest("audit format %q is not supported: only json", f)
	}
	var err error
	if c.LogRaw, err = boolOption(options, "log_raw", false); err != nil {
		return Config{}, err
	}
	hmacAccessor, err := boolOption(options, "hmac_accessor", true)
	if err != nil {
		return Config{}, err
	}
	c.RawAccessor = !hmacAccessor
	if v, ok := options["checkpoint_every"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Config{}, logical.InvalidRequest("audit option checkpoint_every must be a positive integer")
		}
		c.CheckpointEvery = n
	}
	switch typ {
	case "file":
		err = parseFile(&c.File, options)
		if err == nil {
			c.Witness, err = parseWitness(options)
		}
	case "socket":
		err = parseSocket(&c.Socket, options)
	}
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

func boolOption(options map[string]string, key string, def bool) (bool, error) {
	v, ok := options[key]
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, logical.InvalidRequest("audit option %s must be true or false", key)
	}
	return b, nil
}

func parseFile(o *FileOptions, options map[string]string) error {
	o.Path = options["file_path"]
	if o.Path == "" {
		// Vault's older name for file_path.
		o.Path = options["path"]
	}
	if o.Path == "" {
		return logical.InvalidRequest("audit option file_path is required")
	}
	if err := checkPlaceholders(o.Path); err != nil {
		return err
	}
	if m, ok := options["mode"]; ok && m != "" {
		n, err := strconv.ParseUint(m, 8, 32)
		if err != nil || n > 0o777 {
			return logical.InvalidRequest("audit option mode must be an octal file mode such as 0600")
		}
		mode := fs.FileMode(n)
		if mode&0o111 != 0 || mode&0o022 != 0 {
			return logical.InvalidRequest("audit option mode must not make the file executable nor writable by group or others")
		}
		o.Mode = mode
		// Vault's "0000" leaves an existing file's mode alone.
		o.KeepMode = mode == 0
	}
	return nil
}

// parseWitness reads a file device's witness options; it returns nil when
// witness_address is absent.
func parseWitness(options map[string]string) (*WitnessOptions, error) {
	w := &WitnessOptions{Address: options["witness_address"], Type: options["witness_type"]}
	if w.Address == "" {
		if w.Type != "" || options["witness_write_timeout"] != "" {
			return nil, logical.InvalidRequest("audit options witness_type and witness_write_timeout need witness_address")
		}
		return nil, nil
	}
	switch w.Type {
	case "":
		w.Type = WitnessTCP
	case WitnessTCP, WitnessUnix, WitnessSyslog:
	default:
		return nil, logical.InvalidRequest("audit option witness_type must be tcp, unix or syslog")
	}
	if v := options["witness_write_timeout"]; v != "" {
		d, ok := framework.ParseDuration(v)
		if !ok || d <= 0 {
			return nil, logical.InvalidRequest("audit option witness_write_timeout must be a positive duration such as 2s")
		}
		w.WriteTimeout = d
	}
	return w, nil
}

func parseSocket(o *SocketOptions, options map[string]string) error {
	o.Address = options["address"]
	if o.Address == "" {
		return logical.InvalidRequest("audit option address is required")
	}
	o.SocketType = options["socket_type"]
	if o.SocketType == "" {
		o.SocketType = "tcp"
	}
	if o.SocketType != "tcp" && o.SocketType != "unix" {
		return logical.InvalidRequest("audit option socket_type must be tcp or unix")
	}
	if v, ok := options["write_timeout"]; ok && v != "" {
		d, ok := framework.ParseDuration(v)
		if !ok || d <= 0 {
			return logical.InvalidRequest("audit option write_timeout must be a positive duration such as 2s")
		}
		o.WriteTimeout = d
	}
	return nil
}

// OpenParams are what [Open] needs besides the configuration.
type OpenParams struct {
	// Path is where the device is enabled, e.g. "file/".
	Path string
	Keys Keys
	// Resume, Clock and Logger are passed to [NewDevice].
	Resume ChainState
	Clock  logical.Clock
	Logger *slog.Logger
	// NodeID names the node opening the device: it fills
	// [NodeIDPlaceholder] in a file path and node_id in every line
	// ([DeviceOptions.NodeID]). Empty on a single server.
	NodeID string
}

// Open builds the device c describes: it opens the file (or prepares the
// socket) and continues the device's chain.
func Open(c Config, p OpenParams) (*Device, error) {
	var sink Sink
	switch c.Type {
	case "file":
		fo := c.File
		path, err := ExpandPath(fo.Path, p.NodeID)
		if err != nil {
			return nil, err
		}
		fo.Path = path
		f, err := OpenFile(fo)
		if err != nil {
			return nil, err
		}
		sink = f
	case "socket":
		s, err := NewSocket(c.Socket)
		if err != nil {
			return nil, err
		}
		sink = s
	default:
		return nil, fmt.Errorf("unknown audit device type %q", c.Type)
	}
	var witness Sink
	if c.Witness != nil {
		w, err := OpenWitness(*c.Witness)
		if err != nil {
			sink.Close()
			return nil, err
		}
		witness = w
	}
	d, err := NewDevice(DeviceOptions{
		Path:            p.Path,
		Sink:            sink,
		Witness:         witness,
		Keys:            p.Keys,
		LogRaw:          c.LogRaw,
		RawAccessor:     c.RawAccessor,
		CheckpointEvery: c.CheckpointEvery,
		Resume:          p.Resume,
		Clock:           p.Clock,
		Logger:          p.Logger,
		NodeID:          p.NodeID,
	})
	if err != nil {
		sink.Close()
		if witness != nil {
			witness.Close()
		}
		return nil, err
	}
	return d, nil
}
