package main

import (
	"math"
	"math/bits"
	"sort"
	"sync/atomic"
	"time"
)

// hist is a latency histogram over nanoseconds with log-linear buckets: 64
// per power of two, so any quantile is within ~1.6% of the true value. It is
// lock-free because thousands of reader goroutines record into one, and it
// travels between processes as a sparse list so hold processes' histograms
// can be merged exactly (percentiles themselves cannot be averaged).
type hist struct {
	b [histBuckets]atomic.Uint64
}

const (
	histSub     = 64
	histBuckets = histSub + 58*histSub
)

func histIndex(v int64) int {
	if v < histSub {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 7 // v>>e is in [64,128)
	return histSub + e*histSub + int(uint64(v)>>e) - histSub
}

// histValue is the middle of bucket i.
func histValue(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := (i - histSub) / histSub
	mant := int64(i-histSub-e*histSub) + histSub
	return mant<<e + (int64(1)<<e)/2
}

func (h *hist) record(d int64) { h.b[histIndex(d)].Add(1) }

func (h *hist) reset() {
	for i := range h.b {
		h.b[i].Store(0)
	}
}

func (h *hist) count() uint64 {
	var n uint64
	for i := range h.b {
		n += h.b[i].Load()
	}
	return n
}

// sparse lists the non-empty buckets as [index, count] pairs.
func (h *hist) sparse() [][2]uint64 {
	var out [][2]uint64
	for i := range h.b {
		if n := h.b[i].Load(); n > 0 {
			out = append(out, [2]uint64{uint64(i), n})
		}
	}
	return out
}

func (h *hist) merge(s [][2]uint64) {
	for _, p := range s {
		if p[0] < histBuckets {
			h.b[p[0]].Add(p[1])
		}
	}
}

// quantile returns the q-quantile (0<q<=1), or 0 for an empty histogram.
func (h *hist) quantile(q float64) time.Duration {
	total := h.count()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range h.b {
		seen += h.b[i].Load()
		if seen >= max(rank, 1) {
			return time.Duration(histValue(i))
		}
	}
	return time.Duration(histValue(histBuckets - 1))
}

// median of a non-empty slice; 0 for an empty one.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
