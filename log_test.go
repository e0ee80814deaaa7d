//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recordedLog is a slog.Handler that keeps every record.
type recordedLog struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordedLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordedLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordedLog) WithGroup(string) slog.Handler            { return h }
func (h *recordedLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return nil
}

// with returns the records whose message is msg, each as its attributes by key.
func (h *recordedLog) with(msg string) []map[string]slog.Value {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]slog.Value
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		attrs := map[string]slog.Value{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
		out = append(out, attrs)
	}
	return out
}

// writeBehindTx holds the writer in a transaction for hold while n inserts into t queue
// for it one after the other, then commits, and returns once the inserts ran.
func writeBehindTx(t *testing.T, db *sql.DB, cn *Connector, hold time.Duration, n int) {
	t.Helper()
	depths := queued(t, cn)
	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t(v) VALUES (1)")
	done := make(chan error, n)
	for i := range n {
		go func() {
			_, err := db.Exec("INSERT INTO t(v) VALUES (?)", i)
			done <- err
		}()
		receive(t, depths)
	}
	time.Sleep(hold) // the wait that is measured, not a synchronization
	require.NoError(t, tx.Commit())
	for range n {
		require.NoError(t, receive(t, done))
	}
}

// TestLoggerHearsOfALongWait holds the writer in a transaction for 150ms while a write
// waits: the logger gets one record of the wait, naming the transaction and how long it
// held the writer.
func TestLoggerHearsOfALongWait(t *testing.T) {
	log := &recordedLog{}
	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "l.db"), Logger: slog.New(log), LogWaitsOver: 50 * time.Millisecond})
	mustExec(t, db, "CREATE TABLE t(v)")
	writeBehindTx(t, db, cn, 150*time.Millisecond, 1)

	waits := log.with("sqlite-serial: a unit of work waited for the writer")
	require.Len(t, waits, 1)
	require.Equal(t, "a transaction", waits[0]["held_by"].String())
	require.GreaterOrEqual(t, waits[0]["waited"].Duration(), 150*time.Millisecond)
	require.GreaterOrEqual(t, waits[0]["held_for"].Duration(), 150*time.Millisecond)
	require.Contains(t, waits[0]["summary"].String(), "held by a transaction open for")
}

// TestLoggerHearsOfATimeLimitAndABlockedCheckpoint checks the other two records, and that
// nothing else is logged.
func TestLoggerHearsOfATimeLimitAndABlockedCheckpoint(t *testing.T) {
	log := &recordedLog{}
	path := filepath.Join(t.TempDir(), "c.db")
	db, _ := openConnector(t, &Config{DSN: path, Logger: slog.New(log), QueryTimeout: 50 * time.Millisecond, WALLimit: 64 << 10})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")

	const slow = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT count(*) FROM c"
	var n int64
	var limit *TimeLimitError
	require.ErrorAs(t, db.QueryRow(slow).Scan(&n), &limit)
	limits := log.with("sqlite-serial: a statement was stopped by its time limit")
	require.Len(t, limits, 1)
	require.Equal(t, slow, limits[0]["statement"].String())
	require.Equal(t, 50*time.Millisecond, limits[0]["limit"].Duration())

	holdOtherRead(t, path)
	for range 300 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(500))")
	}
	checkpoints := log.with("sqlite-serial: a checkpoint could not complete")
	require.NotEmpty(t, checkpoints)
	require.Contains(t, checkpoints[0]["reason"].String(), "a reader outside the driver")
	require.Positive(t, checkpoints[0]["wal_bytes"].Int64())
	require.Len(t, log.records, len(limits)+len(checkpoints), "nothing else is logged")
}

// TestStatsHistograms checks the distributions after a known workload: every unit of work
// in the writer's wait and hold times, a wait of 100ms in a bucket above 50ms, every read
// in the reader's wait times, and a group commit of three writes in the batch sizes.
func TestStatsHistograms(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "h.db")})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
	for range 10 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (1)")
		queryInt(t, db, "SELECT count(*) FROM t")
	}
	writeBehindTx(t, db, cn, 100*time.Millisecond, 1)
	insert := func(ctx context.Context) (sql.Result, error) {
		return db.ExecContext(ctx, "INSERT INTO t(v) VALUES (3)")
	}
	runAsBatch(t, db, cn, []func(context.Context) (sql.Result, error){insert, insert, insert})

	s := cn.Stats()
	for name, h := range map[string]Histogram{"wait": s.WriterWaitTimes, "hold": s.WriterHoldTimes, "reader wait": s.ReaderWaitTimes, "batch": s.BatchSizes} {
		require.Len(t, h.Counts, len(h.Bounds)+1, name)
		var sum uint64
		for _, c := range h.Counts {
			sum += c
		}
		require.Equal(t, h.Count, sum, "%s: the buckets add up to the count", name)
	}
	require.Equal(t, s.WriterUnits, s.WriterWaitTimes.Count, "every unit's wait")
	require.Equal(t, s.WriterUnits, s.WriterHoldTimes.Count, "every unit's hold")
	var above uint64
	for i, b := range s.WriterWaitTimes.Bounds {
		if b > 0.05 {
			above += s.WriterWaitTimes.Counts[i]
		}
	}
	above += s.WriterWaitTimes.Counts[len(s.WriterWaitTimes.Bounds)]
	require.GreaterOrEqual(t, above, uint64(1), "the wait of 100ms")
	require.GreaterOrEqual(t, s.WriterWaitTimes.Sum, 0.1)
	require.Equal(t, s.ReaderAcquisitions, s.ReaderWaitTimes.Count)
	require.Equal(t, s.Batches, s.BatchSizes.Count)
	require.Equal(t, float64(s.BatchedWrites), s.BatchSizes.Sum)
	require.Positive(t, s.Batches)
}
