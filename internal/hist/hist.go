// Package hist keeps distributions over fixed buckets, updated without locks: an
// observation costs an atomic add to its bucket, to the count and to the sum.
package hist

import (
	"sort"
	"sync/atomic"
	"time"
)

// DurationBounds are the upper bounds, inclusive, of the buckets of a Durations: 1, 2 and 5
// times each power of ten from 1µs to 10s. An observation above the last falls in a bucket
// of its own.
var DurationBounds = func() []time.Duration {
	var b []time.Duration
	for d := time.Microsecond; d <= 10*time.Second; d *= 10 {
		b = append(b, d, 2*d, 5*d)
	}
	return b[:len(b)-2] // up to 10s
}()

// Durations is a distribution of durations over DurationBounds. Its zero value is empty and
// ready; it is safe for concurrent use.
type Durations struct {
	counts [23]atomic.Uint64 // len(DurationBounds) + 1
	sum    atomic.Int64      // nanoseconds
}

// Observe adds d.
func (h *Durations) Observe(d time.Duration) {
	i := sort.Search(len(DurationBounds), func(i int) bool { return d <= DurationBounds[i] })
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// ObserveZero adds a duration of zero, without a look at the bounds.
func (h *Durations) ObserveZero() {
	h.counts[0].Add(1)
}

// Snapshot returns the count of each bucket (the last one above every bound), their total
// and the sum of the durations. Observations that run meanwhile may be in the counts and
// not yet in the sum, or the other way round.
func (h *Durations) Snapshot() (counts []uint64, total uint64, sum time.Duration) {
	counts = make([]uint64, len(h.counts))
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	return counts, total, time.Duration(h.sum.Load())
}

// SizeBounds are the upper bounds, inclusive, of the buckets of a Sizes: the powers of two
// from 1 to 4096.
var SizeBounds = func() []int {
	var b []int
	for n := 1; n <= 4096; n *= 2 {
		b = append(b, n)
	}
	return b
}()

// Sizes is a distribution of counts (statements per batch) over SizeBounds. Its zero value
// is empty and ready; it is safe for concurrent use.
type Sizes struct {
	counts [14]atomic.Uint64 // len(SizeBounds) + 1
	sum    atomic.Int64
}

// Observe adds n.
func (h *Sizes) Observe(n int) {
	i := sort.SearchInts(SizeBounds, n)
	h.counts[i].Add(1)
	h.sum.Add(int64(n))
}

// Snapshot returns the count of each bucket (the last one above every bound), their total
// and the sum of the sizes.
func (h *Sizes) Snapshot() (counts []uint64, total uint64, sum int64) {
	counts = make([]uint64, len(h.counts))
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	return counts, total, h.sum.Load()
}
