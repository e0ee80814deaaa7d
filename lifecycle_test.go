package sqliteserial

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"
)

// TestCloseCheckpointsAndClosesEverything checks that Close leaves the database file
// complete on its own: the WAL was checkpointed and every connection closed.
func TestCloseCheckpointsAndClosesEverything(t *testing.T) {
	path := t.TempDir() + "/c.db"
	db, err := sql.Open(DriverName, path)
	require.NoError(t, err)
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	concurrentWritesAndReads(t, db, 4, 50)
	_, err = os.Stat(path + "-wal")
	require.NoError(t, err, "the database is in WAL mode while open")
	require.NoError(t, db.Close())

	if info, err := os.Stat(path + "-wal"); err == nil {
		require.Zero(t, info.Size(), "the WAL was checkpointed")
	}
	_, err = os.Stat(path + "-shm")
	require.True(t, os.IsNotExist(err), "the last connection closed, removing the shared-memory file")

	plain, err := sql.Open("sqlite3", path+"?_journal_mode=DELETE")
	require.NoError(t, err)
	defer plain.Close()
	require.EqualValues(t, 200, queryInt(t, plain, "SELECT count(*) FROM t"))
}

// TestCloseRefusesNewWork checks that work after Close fails at once with ErrClosed, also
// through connections that database/sql still holds.
func TestCloseRefusesNewWork(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/r.db"})
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	c := session(t, db)
	require.NoError(t, cn.Close())
	_, err := c.ExecContext(background, "INSERT INTO t VALUES (1)")
	require.ErrorIs(t, err, ErrClosed)
	_, err = c.QueryContext(background, "SELECT * FROM t")
	require.ErrorIs(t, err, ErrClosed)
	_, err = cn.Connect(background)
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, cn.Close(), "Close twice is harmless")
}

// TestCloseWithALeakedTransaction checks that Close returns within its bound while a
// transaction holds the writer, says so, and closes the writer when it is released.
func TestCloseWithALeakedTransaction(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/l.db", WriteWait: 100 * time.Millisecond})
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t VALUES (1)")
	rows, err := db.Query("SELECT * FROM t")
	require.NoError(t, err)

	err = db.Close()
	require.ErrorContains(t, err, "the writer is still held by a transaction open for")
	require.ErrorContains(t, err, "1 reader(s) still in use")

	require.NoError(t, tx.Rollback())
	require.NoError(t, rows.Close())
	cn.writer.mu.Lock()
	defer cn.writer.mu.Unlock()
	require.Nil(t, cn.writer.conn, "the writer closed once released")
}

// TestBrokenConnectionsAreReplaced closes the writer and a reader underneath the driver:
// the next statements get new connections and succeed.
func TestBrokenConnectionsAreReplaced(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/b.db", Readers: 1})
	mustExec(t, db, "CREATE TABLE t(v INTEGER)", "INSERT INTO t VALUES (1)")
	require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"))

	require.NoError(t, cn.writer.acquire(background, holdStatement))
	require.NoError(t, cn.writer.conn.Close())
	cn.writer.release()
	r, err := cn.readers.get(background, false)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	cn.readers.put(r, false, true)

	mustExec(t, db, "INSERT INTO t VALUES (2)")
	require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t"))

	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t VALUES (3)")
	require.NoError(t, cn.writer.conn.Close()) // the session holds the writer: nobody else uses it
	_, err = tx.Exec("INSERT INTO t VALUES (4)")
	require.ErrorIs(t, err, errWriterBroke)
	require.ErrorIs(t, tx.Commit(), ErrTxAborted)
	mustExec(t, db, "INSERT INTO t VALUES (5)")
	require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM t"))

	s := stats(t, db)
	require.EqualValues(t, 2, s.ReadersOpened, "the closed reader was replaced")
	require.Equal(t, 1, s.ReadersOpen)
}

// TestNoGoroutineLeftBehind opens, uses and closes databases many times, with every kind of
// unit of work, and checks that no goroutine outlives them.
func TestNoGoroutineLeftBehind(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	for i := range 30 {
		dsn := dir + "/g.db?_serial_query_timeout=5s"
		if i%3 == 1 {
			dsn = ":memory:?_serial_query_timeout=5s"
		}
		db, err := sql.Open(DriverName, dsn)
		require.NoError(t, err)
		mustExec(t, db, "CREATE TABLE IF NOT EXISTS t(v INTEGER)")
		var g errgroup.Group
		for range 4 {
			g.Go(func() error {
				if _, err := db.Exec("INSERT INTO t VALUES (1)"); err != nil {
					return err
				}
				tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
				if err != nil {
					return err
				}
				var n int
				if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
					return err
				}
				return tx.Commit()
			})
		}
		require.NoError(t, g.Wait())
		ctx, cancel := context.WithCancel(context.Background())
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		cancel() // database/sql rolls it back
		_ = tx
		require.NoError(t, db.Close())
	}
}

// TestBusyTimeoutFloor checks that with _busy_timeout=0 the driver's connections still
// wait out SQLite's brief in-process locks, and that a larger timeout is kept.
func TestBusyTimeoutFloor(t *testing.T) {
	for query, want := range map[string]int64{"_busy_timeout=0": 250, "_busy_timeout=1200": 1200} {
		var meet atomic.Pointer[rendezvous]
		meet.Store(newRendezvous(1))
		db, _ := openConnector(t, &Config{DSN: t.TempDir() + "/b.db?" + query, Driver: probedDriver(&meet)})
		require.EqualValues(t, want, queryInt(t, db, "PRAGMA busy_timeout"), "the writer")
		var onReader string
		require.NoError(t, db.QueryRow("SELECT pragma_value('busy_timeout'), rendezvous()").Scan(&onReader, new(any)))
		require.Equal(t, fmt.Sprint(want), onReader, "a reader")
	}
}
