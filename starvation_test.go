//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
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

// busyOutcome is what the calls of busy work came to.
type busyOutcome struct {
	succeeded int64   // calls that returned no error
	failed    int64   // calls that failed otherwise than by being stopped
	errs      []error // the first few of those errors
}

// busy runs work in n goroutines, each calling it again as soon as it returns, until stop
// is called or the test ends. The channel first is closed when a call first ends otherwise
// than by being stopped: at the first success, or at a failure, which stop then reports. stop
// cancels the context the calls run with, waits for the goroutines and returns what the
// calls came to: an error that is the cancellation of a call under way when stop was
// called is not counted, every other error is.
func busy(tb testing.TB, n int, work func(ctx context.Context) error) (first <-chan struct{}, stop func() busyOutcome) {
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	var once, stopOnce sync.Once
	var mu sync.Mutex
	var out busyOutcome
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := work(ctx)
				mu.Lock()
				switch {
				case err == nil:
					out.succeeded++
				case ctx.Err() != nil && errors.Is(err, context.Canceled):
					// the call was under way when stop cancelled it
					mu.Unlock()
					continue
				default:
					out.failed++
					if len(out.errs) < 5 {
						out.errs = append(out.errs, err)
					}
				}
				mu.Unlock()
				once.Do(func() { close(ended) })
			}
		})
	}
	stop = func() busyOutcome {
		stopOnce.Do(func() { cancel(); wg.Wait() })
		mu.Lock()
		defer mu.Unlock()
		return out
	}
	tb.Cleanup(func() { stop() }) // also when the test fails before calling stop
	return ended, stop
}

// TestWritesProgressUnderBusyReaders checks that 16 readers that never stop do not keep
// writes from completing within the write-wait limit, and that constant writes do not
// keep reads from completing; the busy readers and writers themselves progress too, and
// none of their calls fails but by being stopped. Each phase waits, halfway through, for a
// first busy call to end, so that the busy calls are shown to progress while the phase goes
// on, without measuring time.
func TestWritesProgressUnderBusyReaders(t *testing.T) {
	db := starvationDB(t, "_serial_write_wait=5s&_serial_readers=16")
	read, stopReads := busy(t, 16, func(ctx context.Context) error {
		var n int
		return db.QueryRowContext(ctx, starvationRead).Scan(&n)
	})
	for i := range 100 {
		if i == 50 {
			receive(t, read)
		}
		_, err := db.Exec("INSERT INTO w VALUES (?)", i+1)
		require.NoError(t, err)
	}
	reads := stopReads()
	require.Zero(t, reads.failed, "busy reads fail only by being stopped: %v", reads.errs)
	require.Positive(t, reads.succeeded, "busy reads progress while writes go on")

	wrote, stopWrites := busy(t, 2, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "INSERT INTO w VALUES (0)")
		return err
	})
	for i := range 100 {
		if i == 50 {
			receive(t, wrote)
		}
		// The deadline only turns a read that never ends into a failure.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var n int
		err := db.QueryRowContext(ctx, starvationRead).Scan(&n)
		cancel()
		require.NoError(t, err, "read %d under constant writes", i)
	}
	writes := stopWrites()
	require.Zero(t, writes.failed, "busy writes fail only by being stopped: %v", writes.errs)
	require.Positive(t, writes.succeeded, "busy writes progress while reads go on")
	require.EqualValues(t, 100, queryInt(t, db, "SELECT count(*) FROM w WHERE v > 0"))
	t.Logf("%d busy reads beside the writes, %d busy writes beside the reads", reads.succeeded, writes.succeeded)
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

		_, stop := busy(b, 16, func(ctx context.Context) error { var n int; return db.QueryRowContext(ctx, starvationRead).Scan(&n) })
		writeBusy = append(writeBusy, timed(b, 50, write)...)
		stop()

		_, stop = busy(b, 2, func(ctx context.Context) error { _, err := db.ExecContext(ctx, "INSERT INTO w VALUES (2)"); return err })
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
