package sqliteserial

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const starvationRead = "SELECT count(*) FROM big WHERE x % 3 = 0"

// starvationDB returns a database with a table that takes a reader a while to scan.
func starvationDB(t testing.TB, query string) *sql.DB {
	db, _ := openDB(t, query)
	mustExec(t, db, "CREATE TABLE big(x INTEGER)", "CREATE TABLE w(v)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) INSERT INTO big SELECT i FROM c")
	return db
}

// busy runs work in n goroutines until the returned function is called.
func busy(n int, work func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				work(ctx)
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// TestWritesProgressUnderBusyReaders checks that 16 readers that never stop do not keep
// writes from completing within the write-wait limit, and that constant writes do not
// keep reads from completing.
func TestWritesProgressUnderBusyReaders(t *testing.T) {
	db := starvationDB(t, "_serial_write_wait=5s&_serial_readers=16")
	stop := busy(16, func(ctx context.Context) {
		var n int
		_ = db.QueryRowContext(ctx, starvationRead).Scan(&n)
	})
	for i := range 100 {
		_, err := db.Exec("INSERT INTO w VALUES (?)", i+1)
		require.NoError(t, err)
	}
	stop()

	stop = busy(2, func(ctx context.Context) { _, _ = db.ExecContext(ctx, "INSERT INTO w VALUES (0)") })
	for range 100 {
		queryInt(t, db, starvationRead)
	}
	stop()
	require.EqualValues(t, 100, queryInt(t, db, "SELECT count(*) FROM w WHERE v > 0"))
}

// percentiles returns the p50 and p99 of samples.
func percentiles(samples []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(samples)
	at := func(q float64) time.Duration { return samples[min(len(samples)-1, int(q*float64(len(samples))))] }
	return at(0.50), at(0.99)
}

// timed runs op n times and returns each duration.
func timed(b *testing.B, n int, op func() error) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		start := time.Now()
		require.NoError(b, op())
		out[i] = time.Since(start)
	}
	return out
}

// BenchmarkStarvation reports write latency with 16 readers busy and read latency under
// constant writes, each beside its idle baseline measured in the same run, as p50 and p99
// in microseconds and as ratios to the baseline.
func BenchmarkStarvation(b *testing.B) {
	db := starvationDB(b, "_serial_readers=16&_serial_write_wait=30s")
	write := func() error { _, err := db.Exec("INSERT INTO w VALUES (1)"); return err }
	read := func() error { var n int; return db.QueryRow(starvationRead).Scan(&n) }
	var writeIdle, writeBusy, readIdle, readBusy []time.Duration
	for b.Loop() {
		writeIdle = append(writeIdle, timed(b, 50, write)...)
		readIdle = append(readIdle, timed(b, 50, read)...)

		stop := busy(16, func(ctx context.Context) { var n int; _ = db.QueryRowContext(ctx, starvationRead).Scan(&n) })
		writeBusy = append(writeBusy, timed(b, 50, write)...)
		stop()

		stop = busy(2, func(ctx context.Context) { _, _ = db.ExecContext(ctx, "INSERT INTO w VALUES (2)") })
		readBusy = append(readBusy, timed(b, 50, read)...)
		stop()
	}
	report := func(name string, idle, loaded []time.Duration) {
		i50, i99 := percentiles(idle)
		l50, l99 := percentiles(loaded)
		b.ReportMetric(float64(i50.Microseconds()), name+"-p50-idle-µs")
		b.ReportMetric(float64(i99.Microseconds()), name+"-p99-idle-µs")
		b.ReportMetric(float64(l50.Microseconds()), name+"-p50-loaded-µs")
		b.ReportMetric(float64(l99.Microseconds()), name+"-p99-loaded-µs")
		b.ReportMetric(float64(l99)/float64(i99), name+"-p99-loaded/idle")
	}
	report("write", writeIdle, writeBusy)
	report("read", readIdle, readBusy)
}
