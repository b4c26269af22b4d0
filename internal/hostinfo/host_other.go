//go:build !linux

package hostinfo

import (
	"os"
	"runtime"
)

// collect fills in what the Go runtime knows; the rest stays empty off
// Linux.
func collect(info *Info, errs *[]string) {
	for i := range runtime.NumCPU() {
		info.CPU = append(info.CPU, CPU{CPU: int32(i), Flags: []string{}})
	}
	info.Host.Hostname, _ = os.Hostname()
	info.Host.OS = runtime.GOOS
	info.Host.KernelArch = runtime.GOARCH
	*errs = append(*errs, "cpu_times, disk and memory are only reported on Linux")
}
