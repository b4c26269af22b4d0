package hostinfo

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCPUInfo(t *testing.T) {
	t.Parallel()
	in := `processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 85
model name	: Intel(R) Xeon(R)
stepping	: 7
microcode	: 0x5003604
cpu MHz		: 2500.000
cache size	: 36608 KB
physical id	: 0
core id		: 0
cpu cores	: 2
flags		: fpu vme sse2

processor	: 1
vendor_id	: GenuineIntel
flags		: fpu
`
	want := []CPU{
		{CPU: 0, VendorID: "GenuineIntel", Family: "6", Model: "85", ModelName: "Intel(R) Xeon(R)", Stepping: 7, Microcode: "0x5003604", Mhz: 2500, CacheSize: 36608, PhysicalID: "0", CoreID: "0", Cores: 2, Flags: []string{"fpu", "vme", "sse2"}},
		{CPU: 1, VendorID: "GenuineIntel", Flags: []string{"fpu"}},
	}
	if diff := cmp.Diff(want, parseCPUInfo(strings.NewReader(in))); diff != "" {
		t.Errorf("parseCPUInfo (-want +got):\n%s", diff)
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	in := "cpu  100 20 300 4000 50 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2\nbtime 1700000000\n"
	times, boot := parseStat(strings.NewReader(in), 100)
	want := []CPUTimes{{CPU: "cpu-total", User: 1, Nice: 0.2, System: 3, Idle: 40, Iowait: 0.5, Irq: 0.06, Softirq: 0.07, Steal: 0.08, Guest: 0.09, GuestNice: 0.1}}
	if diff := cmp.Diff(want, times); diff != "" || boot != 1700000000 {
		t.Errorf("parseStat = %v, %d (-want +got):\n%s", times, boot, diff)
	}
}

func TestParseMemInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     Memory
	}{
		{
			name: "with MemAvailable",
			in:   "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nBuffers: 50 kB\nCached: 200 kB\nSReclaimable: 50 kB\nSwapTotal: 10 kB\nSwapFree: 5 kB\n",
			want: Memory{Total: 1024000, Available: 614400, Free: 102400, Buffers: 51200, Cached: 256000, Used: 614400, UsedPercent: 60, SwapTotal: 10240, SwapFree: 5120},
		},
		{
			name: "old kernel",
			in:   "MemTotal: 1000 kB\nMemFree: 500 kB\n",
			want: Memory{Total: 1024000, Available: 512000, Free: 512000, Used: 512000, UsedPercent: 50},
		},
		{name: "empty", in: "", want: Memory{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseMemInfo(strings.NewReader(tt.in))); diff != "" {
				t.Errorf("parseMemInfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOSRelease(t *testing.T) {
	t.Parallel()
	p, f, v := parseOSRelease(strings.NewReader("NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n"))
	if p != "ubuntu" || f != "debian" || v != "24.04" {
		t.Errorf("parseOSRelease = %q %q %q", p, f, v)
	}
	p, f, _ = parseOSRelease(strings.NewReader("ID=debian\n"))
	if p != "debian" || f != "debian" {
		t.Errorf("parseOSRelease without ID_LIKE = %q %q", p, f)
	}
}

func TestParseMounts(t *testing.T) {
	t.Parallel()
	in := "proc /proc proc rw 0 0\n/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /mnt/my\\040disk xfs rw 0 0\n/dev/sda1 / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"
	paths, types := parseMounts(strings.NewReader(in))
	if diff := cmp.Diff([]string{"/", "/mnt/my disk"}, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ext4", "xfs"}, types); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
}

// TestCollect reads the machine the test runs on: never a panic, and the
// parts every system has are filled in.
func TestCollect(t *testing.T) {
	t.Parallel()
	now := time.Now()
	info, _ := Collect(now)
	if len(info.CPU) == 0 || info.Host.Hostname == "" || info.Host.OS == "" || !info.Timestamp.Equal(now) {
		t.Errorf("Collect = %+v", info)
	}
}
