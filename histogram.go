//go:build cgo

package sqliteserial

import (
	"slices"

	"github.com/sqlite-serial/sqlite-serial/internal/hist"
)

// durationBounds and sizeBounds are hist's bounds as Histogram gives them.
var (
	durationBounds = func() []float64 {
		b := make([]float64, len(hist.DurationBounds))
		for i, d := range hist.DurationBounds {
			b[i] = d.Seconds()
		}
		return b
	}()
	sizeBounds = func() []float64 {
		b := make([]float64, len(hist.SizeBounds))
		for i, n := range hist.SizeBounds {
			b[i] = float64(n)
		}
		return b
	}()
)

// durationHistogram returns a snapshot of h, in seconds.
func durationHistogram(h *hist.Durations) Histogram {
	counts, total, sum := h.Snapshot()
	return Histogram{Bounds: slices.Clone(durationBounds), Counts: counts, Count: total, Sum: sum.Seconds()}
}

// sizeHistogram returns a snapshot of h.
func sizeHistogram(h *hist.Sizes) Histogram {
	counts, total, sum := h.Snapshot()
	return Histogram{Bounds: slices.Clone(sizeBounds), Counts: counts, Count: total, Sum: float64(sum)}
}
