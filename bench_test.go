package sqliteserial

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// slowRead is a read that keeps one core busy for a while.
const slowRead = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c"

// BenchmarkParallelSlowReads runs as many slow reads as there are cores, at least two, first
// one after another and then all at once, and reports the time of the second as a fraction
// of the first: 1/cores when reads run fully in parallel, 1 when they are serialized.
func BenchmarkParallelSlowReads(b *testing.B) {
	n := max(2, runtime.GOMAXPROCS(0))
	db, _ := openDB(b, "")
	var serial, parallel time.Duration
	for b.Loop() {
		start := time.Now()
		for range n {
			queryInt(b, db, slowRead)
		}
		serial += time.Since(start)

		start = time.Now()
		var g errgroup.Group
		for range n {
			g.Go(func() error {
				var v int64
				return db.QueryRow(slowRead).Scan(&v)
			})
		}
		require.NoError(b, g.Wait())
		parallel += time.Since(start)
	}
	b.ReportMetric(float64(parallel)/float64(serial), "parallel/serial")
	b.ReportMetric(float64(n), "reads")
}
