package hist

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDurationBuckets checks where observations fall: at a bound in its bucket, just above
// it in the next, beyond the last bound in the bucket of its own.
func TestDurationBuckets(t *testing.T) {
	require.Len(t, DurationBounds, 22)
	require.Equal(t, time.Microsecond, DurationBounds[0])
	require.Equal(t, 10*time.Second, DurationBounds[len(DurationBounds)-1])
	var h Durations
	h.ObserveZero()
	h.Observe(time.Microsecond)
	h.Observe(time.Microsecond + 1)
	h.Observe(3 * time.Millisecond)
	h.Observe(time.Minute)
	counts, total, sum := h.Snapshot()
	require.Len(t, counts, len(DurationBounds)+1)
	want := make([]uint64, len(counts))
	want[0] = 2           // zero and 1µs
	want[1] = 1           // just above 1µs: up to 2µs
	want[11] = 1          // 3ms: above 2ms, up to 5ms
	want[len(want)-1] = 1 // a minute: above 10s
	require.Equal(t, 5*time.Millisecond, DurationBounds[11])
	require.Equal(t, want, counts)
	require.Equal(t, uint64(5), total)
	require.Equal(t, time.Microsecond+time.Microsecond+1+3*time.Millisecond+time.Minute, sum)
}

// TestSizeBuckets does the same for sizes.
func TestSizeBuckets(t *testing.T) {
	var h Sizes
	for _, n := range []int{1, 2, 3, 64, 65, 5000} {
		h.Observe(n)
	}
	counts, total, sum := h.Snapshot()
	want := make([]uint64, len(SizeBounds)+1)
	want[0], want[1], want[2], want[6], want[7], want[len(want)-1] = 1, 1, 1, 1, 1, 1
	require.Equal(t, want, counts)
	require.Equal(t, uint64(6), total)
	require.Equal(t, int64(1+2+3+64+65+5000), sum)
}

// TestConcurrentObservations adds from many goroutines at once: nothing is lost.
func TestConcurrentObservations(t *testing.T) {
	var h Durations
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	_, total, _ := h.Snapshot()
	require.Equal(t, uint64(8000), total)
}
