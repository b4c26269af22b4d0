// Package hostinfo describes the machine a Coffer server runs on, for
// sys/host-info, in the shape Vault answers there: CPUs, CPU times, disks,
// the host and its memory. On Linux it reads /proc (and statfs for
// disks); elsewhere it reports what the Go runtime and the standard
// library know and leaves the rest empty. It has no dependencies beyond
// the standard library and imports nothing of Coffer's.
//
// The functions are safe for concurrent use; they read the system each
// time they are called.
package hostinfo

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
)

// Info is the answer of sys/host-info. Field names follow Vault's.
type Info struct {
	CPU       []CPU      `json:"cpu"`
	CPUTimes  []CPUTimes `json:"cpu_times"`
	Disk      []Disk     `json:"disk"`
	Host      Host       `json:"host"`
	Memory    Memory     `json:"memory"`
	Timestamp time.Time  `json:"timestamp"`
}

// CPU describes one logical CPU.
type CPU struct {
	CPU        int32    `json:"cpu"`
	VendorID   string   `json:"vendorId"`
	Family     string   `json:"family"`
	Model      string   `json:"model"`
	Stepping   int32    `json:"stepping"`
	PhysicalID string   `json:"physicalId"`
	CoreID     string   `json:"coreId"`
	Cores      int32    `json:"cores"`
	ModelName  string   `json:"modelName"`
	Mhz        float64  `json:"mhz"`
	CacheSize  int32    `json:"cacheSize"`
	Flags      []string `json:"flags"`
	Microcode  string   `json:"microcode"`
}

// CPUTimes is the time all CPUs spent in each state since boot, in
// seconds.
type CPUTimes struct {
	CPU       string  `json:"cpu"`
	User      float64 `json:"user"`
	System    float64 `json:"system"`
	Idle      float64 `json:"idle"`
	Nice      float64 `json:"nice"`
	Iowait    float64 `json:"iowait"`
	Irq       float64 `json:"irq"`
	Softirq   float64 `json:"softirq"`
	Steal     float64 `json:"steal"`
	Guest     float64 `json:"guest"`
	GuestNice float64 `json:"guestNice"`
}

// Disk is the usage of one mounted file system, in bytes and inodes.
type Disk struct {
	Path              string  `json:"path"`
	Fstype            string  `json:"fstype"`
	Total             uint64  `json:"total"`
	Free              uint64  `json:"free"`
	Used              uint64  `json:"used"`
	UsedPercent       float64 `json:"usedPercent"`
	InodesTotal       uint64  `json:"inodesTotal"`
	InodesUsed        uint64  `json:"inodesUsed"`
	InodesFree        uint64  `json:"inodesFree"`
	InodesUsedPercent float64 `json:"inodesUsedPercent"`
}

// Host describes the machine and its operating system.
type Host struct {
	Hostname             string `json:"hostname"`
	Uptime               uint64 `json:"uptime"`
	BootTime             uint64 `json:"bootTime"`
	Procs                uint64 `json:"procs"`
	OS                   string `json:"os"`
	Platform             string `json:"platform"`
	PlatformFamily       string `json:"platformFamily"`
	PlatformVersion      string `json:"platformVersion"`
	KernelVersion        string `json:"kernelVersion"`
	KernelArch           string `json:"kernelArch"`
	VirtualizationSystem string `json:"virtualizationSystem"`
	VirtualizationRole   string `json:"virtualizationRole"`
	HostID               string `json:"hostid"`
}

// Memory is the machine's memory use, in bytes.
type Memory struct {
	Total       uint64  `json:"total"`
	Available   uint64  `json:"available"`
	Used        uint64  `json:"used"`
	UsedPercent float64 `json:"usedPercent"`
	Free        uint64  `json:"free"`
	Buffers     uint64  `json:"buffers"`
	Cached      uint64  `json:"cached"`
	SwapTotal   uint64  `json:"swapTotal"`
	SwapFree    uint64  `json:"swapFree"`
}

// Collect describes the machine now. Parts the system does not tell are
// left empty; a part that fails to read is reported in errs (by what it
// is, without the error text of the system call) and left empty, so that
// the rest can still be answered.
func Collect(now time.Time) (info Info, errs []string) {
	info = Info{CPU: []CPU{}, CPUTimes: []CPUTimes{}, Disk: []Disk{}, Timestamp: now.UTC()}
	collect(&info, &errs)
	return info, errs
}

// parseCPUInfo reads /proc/cpuinfo: one block of "key : value" lines per
// logical CPU.
func parseCPUInfo(r io.Reader) []CPU {
	var out []CPU
	var cur *CPU
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "processor" {
			n, _ := strconv.ParseInt(v, 10, 32)
			out = append(out, CPU{CPU: int32(n), Flags: []string{}})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		switch k {
		case "vendor_id", "CPU implementer":
			cur.VendorID = v
		case "cpu family", "CPU architecture":
			cur.Family = v
		case "model", "CPU part":
			cur.Model = v
		case "model name":
			cur.ModelName = v
		case "stepping", "CPU revision":
			n, _ := strconv.ParseInt(v, 0, 32)
			cur.Stepping = int32(n)
		case "physical id":
			cur.PhysicalID = v
		case "core id":
			cur.CoreID = v
		case "cpu cores":
			n, _ := strconv.ParseInt(v, 10, 32)
			cur.Cores = int32(n)
		case "cpu MHz":
			cur.Mhz, _ = strconv.ParseFloat(v, 64)
		case "cache size":
			n, _ := strconv.ParseInt(strings.TrimSuffix(v, " KB"), 10, 32)
			cur.CacheSize = int32(n)
		case "flags", "Features":
			cur.Flags = strings.Fields(v)
		case "microcode":
			cur.Microcode = v
		}
	}
	return out
}

// parseStat reads the total CPU times ("cpu" line, in clock ticks of
// 1/hz s) and the boot time ("btime", unix seconds) from /proc/stat.
func parseStat(r io.Reader, hz float64) (times []CPUTimes, boot uint64) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "cpu":
			v := make([]float64, 10)
			for i := range v {
				if i+1 < len(f) {
					n, _ := strconv.ParseUint(f[i+1], 10, 64)
					v[i] = float64(n) / hz
				}
			}
			times = append(times, CPUTimes{CPU: "cpu-total", User: v[0], Nice: v[1], System: v[2], Idle: v[3], Iowait: v[4], Irq: v[5], Softirq: v[6], Steal: v[7], Guest: v[8], GuestNice: v[9]})
		case "btime":
			if len(f) > 1 {
				boot, _ = strconv.ParseUint(f[1], 10, 64)
			}
		}
	}
	return times, boot
}

// parseMemInfo reads /proc/meminfo (values in kB).
func parseMemInfo(r io.Reader) Memory {
	kb := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err == nil {
			kb[k] = n * 1024
		}
	}
	m := Memory{
		Total: kb["MemTotal"], Free: kb["MemFree"], Buffers: kb["Buffers"],
		Cached: kb["Cached"] + kb["SReclaimable"], SwapTotal: kb["SwapTotal"], SwapFree: kb["SwapFree"],
	}
	m.Available = kb["MemAvailable"]
	if _, ok := kb["MemAvailable"]; !ok {
		m.Available = m.Free + m.Buffers + m.Cached
	}
	if used := m.Free + m.Buffers + m.Cached; m.Total > used {
		m.Used = m.Total - used
	}
	if m.Total > 0 {
		m.UsedPercent = float64(m.Used) / float64(m.Total) * 100
	}
	return m
}

// parseOSRelease reads /etc/os-release: the platform ID, its family
// (ID_LIKE, first word) and version.
func parseOSRelease(r io.Reader) (platform, family, version string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			platform = v
		case "ID_LIKE":
			if f := strings.Fields(v); len(f) > 0 {
				family = f[0]
			}
		case "VERSION_ID":
			version = v
		}
	}
	if family == "" {
		family = platform
	}
	return platform, family, version
}

// parseMounts reads /proc/self/mounts and returns the mount points and
// types of file systems on block devices, each mount point once.
func parseMounts(r io.Reader) (paths, types []string) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || !strings.HasPrefix(f[0], "/dev/") || seen[f[1]] {
			continue
		}
		// Mount points escape spaces and such as octal (\040).
		p := unescapeOctal(f[1])
		seen[f[1]] = true
		paths = append(paths, p)
		types = append(types, f[2])
	}
	return paths, types
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// percent returns part/total in percent, 0 when total is 0.
func percent(part, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return float64(part) / float64(total) * 100
}
