//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// holdWriter begins a transaction, which holds the writer until the returned function
// rolls it back.
func holdWriter(t *testing.T, db *sql.DB) (release func()) {
	t.Helper()
	tx, err := db.Begin()
	require.NoError(t, err)
	return func() { require.NoError(t, tx.Rollback()) }
}

// TestWriterServesUnitsInFIFOOrder queues writes one after the other behind a held writer
// and checks that they ran in the order they queued.
func TestWriterServesUnitsInFIFOOrder(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/fifo.db"})
	mustExec(t, db, "CREATE TABLE log(seq INTEGER PRIMARY KEY AUTOINCREMENT, k INTEGER)")
	events := queued(t, cn)
	release := holdWriter(t, db)

	const n = 20
	var g errgroup.Group
	for k := range n {
		g.Go(func() error {
			_, err := db.Exec("INSERT INTO log(k) VALUES (?)", k)
			return err
		})
		require.Equal(t, k+1, receive(t, events), "write %d is queued before the next starts", k)
	}
	release()
	require.NoError(t, g.Wait())

	rows, err := db.Query("SELECT k FROM log ORDER BY seq")
	require.NoError(t, err)
	defer rows.Close()
	var order []int
	for rows.Next() {
		var k int
		require.NoError(t, rows.Scan(&k))
		order = append(order, k)
	}
	require.NoError(t, rows.Err())
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	require.Equal(t, want, order)
}

// TestWriterRunsOneUnitAtATime checks that a write does not slip into another unit's
// transaction: it waits for the transaction's end, so the transaction's rollback does not
// take it along.
func TestWriterRunsOneUnitAtATime(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/one.db"})
	mustExec(t, db, "CREATE TABLE t(v TEXT)")
	events := queued(t, cn)

	tx, err := db.Begin()
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO t VALUES ('in tx')")
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO t VALUES ('autocommit')")
		done <- err
	}()
	receive(t, events)
	require.EqualValues(t, 1, stats(t, db).WriterQueueDepth)
	require.NoError(t, tx.Rollback())
	require.NoError(t, receive(t, done))

	var v string
	require.NoError(t, db.QueryRow("SELECT group_concat(v) FROM t").Scan(&v))
	require.Equal(t, "autocommit", v)
}

// TestWaitHonoursContext checks that a unit waiting for the writer gives up when its
// context ends, with the context's error itself, and never runs afterwards.
func TestWaitHonoursContext(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/ctx.db"})
	mustExec(t, db, "CREATE TABLE t(v TEXT)")
	events := queued(t, cn)
	release := holdWriter(t, db)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, "INSERT INTO t VALUES ('gave up')")
		done <- err
	}()
	receive(t, events)
	cancel()
	err := receive(t, done)
	// The context's own error, as mattn returns it: users compare it with ==.
	require.True(t, err == context.Canceled, "got %v", err)

	release()
	mustExec(t, db, "INSERT INTO t VALUES ('later')")
	require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t WHERE v = 'gave up'"))
	require.EqualValues(t, 1, stats(t, db).WriterGaveUp)
}

// TestWaitLimit checks _serial_write_wait: a unit that waits that long fails with an error
// that wraps context.DeadlineExceeded, says how long it waited and what holds the writer,
// and never runs.
func TestWaitLimit(t *testing.T) {
	db, _ := openDB(t, "_serial_write_wait=50ms")
	mustExec(t, db, "CREATE TABLE t(v TEXT)")
	release := holdWriter(t, db)
	for _, write := range []func() error{
		func() error { _, err := db.Exec("INSERT INTO t VALUES ('late')"); return err },
		func() error { _, err := db.Begin(); return err },
	} {
		err := write()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var waitErr *WriteWaitError
		require.ErrorAs(t, err, &waitErr)
		require.GreaterOrEqual(t, waitErr.Waited, 50*time.Millisecond)
		require.Equal(t, 50*time.Millisecond, waitErr.Limit)
		require.Contains(t, err.Error(), "gave up waiting for the writer after")
		require.Contains(t, err.Error(), "_serial_write_wait is 50ms")
		require.Contains(t, err.Error(), "held by a transaction open for")
	}
	release()
	require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t"))
}

// TestWaitLimitDefaultsToBusyTimeout checks the default of _serial_write_wait.
func TestWaitLimitDefaultsToBusyTimeout(t *testing.T) {
	for dsn, want := range map[string]time.Duration{
		"x.db":                    5 * time.Second,
		"x.db?_busy_timeout=1500": 1500 * time.Millisecond,
		"x.db?_timeout=700":       700 * time.Millisecond,
		"x.db?_busy_timeout=0":    5 * time.Second,
		"x.db?_busy_timeout=900&_serial_write_wait=3s": 3 * time.Second,
	} {
		cfg, err := ParseDSN(dsn)
		require.NoError(t, err)
		cn, err := NewConnector(cfg)
		require.NoError(t, err)
		require.Equal(t, want, cn.cfg.WriteWait, dsn)
	}
}

// TestAlreadyCancelledContextNeverRuns checks that a write whose context ended before it
// was issued does not run, even with the writer free.
func TestAlreadyCancelledContextNeverRuns(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(v TEXT)")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.ExecContext(ctx, "INSERT INTO t VALUES ('no')")
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t"))
}

// TestNoBusyUnderConcurrentWrites writes from many goroutines at once, with SQLite's own
// busy timeout off: the queue alone must keep "database is locked" away.
func TestNoBusyUnderConcurrentWrites(t *testing.T) {
	db, _ := openDB(t, "_busy_timeout=0&_serial_write_wait=30s")
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	var g errgroup.Group
	for i := range 64 {
		g.Go(func() error {
			for j := range 10 {
				if _, err := db.Exec("INSERT INTO t VALUES (?)", i*10+j); err != nil {
					return fmt.Errorf("insert: %w", err)
				}
				tx, err := db.Begin()
				if err != nil {
					return fmt.Errorf("begin: %w", err)
				}
				var n int
				if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
					return errors.Join(err, tx.Rollback())
				}
				if _, err := tx.Exec("INSERT INTO t VALUES (?)", -n); err != nil {
					return errors.Join(err, tx.Rollback())
				}
				if err := tx.Commit(); err != nil {
					return fmt.Errorf("commit: %w", err)
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	require.EqualValues(t, 64*10*2, queryInt(t, db, "SELECT count(*) FROM t"))
}
