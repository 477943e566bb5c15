package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// machineBusy is the CPU time every process on the machine has used, from
// the first line of /proc/stat (user, nice, system, irq, softirq, steal).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clkTck
}

// otherCPU is the median over a figure's rounds of the CPU that processes
// outside the round's servers and clients used meanwhile, in % of one core:
// other engineers' tests on a shared machine show up here, not only in the
// load average.
func (f *figure) otherCPU() (float64, bool) {
	var xs []float64
	for _, rd := range f.Rounds {
		if v, ok := rd.Extra["other_cpu_pct"]; ok {
			xs = append(xs, v)
		}
	}
	return median(xs), len(xs) > 0
}
