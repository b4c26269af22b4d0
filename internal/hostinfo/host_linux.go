package hostinfo

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of /proc/stat's CPU times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// collect fills in what Linux tells through /proc and statfs.
func collect(info *Info, errs *[]string) {
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		info.CPU = append(info.CPU, parseCPUInfo(f)...)
		f.Close()
	} else {
		*errs = append(*errs, "cpu: /proc/cpuinfo is not readable")
	}
	if f, err := os.Open("/proc/stat"); err == nil {
		times, boot := parseStat(f, clockTicks)
		f.Close()
		info.CPUTimes = append(info.CPUTimes, times...)
		info.Host.BootTime = boot
	} else {
		*errs = append(*errs, "cpu_times: /proc/stat is not readable")
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		info.Memory = parseMemInfo(f)
		f.Close()
	} else {
		*errs = append(*errs, "memory: /proc/meminfo is not readable")
	}
	if f, err := os.Open("/proc/self/mounts"); err == nil {
		paths, types := parseMounts(f)
		f.Close()
		for i, p := range paths {
			if d, ok := diskUsage(p, types[i]); ok {
				info.Disk = append(info.Disk, d)
			}
		}
	} else {
		*errs = append(*errs, "disk: /proc/self/mounts is not readable")
	}
	h := &info.Host
	h.Hostname, _ = os.Hostname()
	h.OS = runtime.GOOS
	h.KernelArch = kernelArch()
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			up, _ := strconv.ParseFloat(f[0], 64)
			h.Uptime = uint64(up)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.KernelVersion = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/etc/os-release"); err == nil {
		h.Platform, h.PlatformFamily, h.PlatformVersion = parseOSRelease(f)
		f.Close()
	}
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		h.HostID = strings.TrimSpace(string(b))
	}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			if _, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && e.IsDir() {
				h.Procs++
			}
		}
	}
}

// diskUsage reports the usage of the file system mounted at path.
func diskUsage(path, fstype string) (Disk, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return Disk{}, false
	}
	bs := uint64(st.Bsize)
	d := Disk{
		Path:        path,
		Fstype:      fstype,
		Total:       st.Blocks * bs,
		Free:        st.Bavail * bs,
		InodesTotal: st.Files,
		InodesFree:  st.Ffree,
	}
	d.Used = (st.Blocks - st.Bfree) * bs
	d.UsedPercent = percent(d.Used, d.Used+d.Free)
	if d.InodesTotal >= d.InodesFree {
		d.InodesUsed = d.InodesTotal - d.InodesFree
	}
	d.InodesUsedPercent = percent(d.InodesUsed, d.InodesTotal)
	return d, true
}

// kernelArch names the machine as uname does.
func kernelArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	}
	return runtime.GOARCH
}
