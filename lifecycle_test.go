//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
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

// TestCloseWithLeakedRowsAndTransactions checks that Close returns nil at once, as mattn's
// does, while the program left rows, a Query of VACUUM, an INSERT ... RETURNING read through
// Query and a transaction open, and that their connections are closed as they are
// released. Before Close, Stats names what holds the writer.
func TestCloseWithLeakedRowsAndTransactions(t *testing.T) {
	for _, name := range []string{"sqlite3", "sqlite-serial"} {
		t.Run(name, func(t *testing.T) {
			before := openPhysical.Load()
			db, err := sql.Open(name, filepath.Join(t.TempDir(), "l.db")+"?_journal_mode=WAL")
			require.NoError(t, err)
			mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)", "INSERT INTO t(v) VALUES (1), (2)")
			var leaked []*sql.Rows
			queries := []string{"SELECT * FROM t", "VACUUM", "INSERT INTO t(v) VALUES (3) RETURNING id"}
			if name == "sqlite3" {
				queries = queries[:1] // mattn's rows of the others keep its transaction below locked out
			}
			for _, q := range queries {
				rows, err := db.Query(q)
				require.NoError(t, err, q)
				leaked = append(leaked, rows)
			}
			tx, err := db.Begin()
			require.NoError(t, err)
			mustExec(t, tx, "INSERT INTO t(v) VALUES (4)")
			if name == "sqlite-serial" {
				require.Equal(t, "a transaction", stats(t, db).WriterHeldBy)
			}

			start := time.Now()
			require.NoError(t, db.Close())
			require.Less(t, time.Since(start), time.Second)

			require.NoError(t, tx.Rollback())
			for _, rows := range leaked {
				require.NoError(t, rows.Close())
			}
			require.Equal(t, before, openPhysical.Load(), "every connection closed once released")
		})
	}
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

// TestCloseDoesNotWaitForOtherProcessesReaders: while another handle on the file (another
// process, to SQLite) holds a read, Close neither waits out the busy timeout nor keeps that
// handle's writes out; the WAL is left for a later checkpoint.
func TestCloseDoesNotWaitForOtherProcessesReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	db, err := sql.Open("sqlite-serial", path+"?_busy_timeout=3000")
	require.NoError(t, err)
	mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (1)")

	other, err := sql.Open("sqlite3", path+"?_busy_timeout=3000")
	require.NoError(t, err)
	defer other.Close()
	reading, err := other.Begin()
	require.NoError(t, err)
	require.EqualValues(t, 1, queryInt(t, reading, "SELECT count(*) FROM t"))
	mustExec(t, db, "INSERT INTO t VALUES (2)") // the WAL now has frames the reader keeps

	start := time.Now()
	require.NoError(t, db.Close())
	require.Less(t, time.Since(start), time.Second, "Close waited for another handle's reader")
	require.NoError(t, reading.Rollback())
	start = time.Now()
	mustExec(t, other, "INSERT INTO t VALUES (3)")
	require.Less(t, time.Since(start), time.Second)
	require.EqualValues(t, 3, queryInt(t, other, "SELECT count(*) FROM t"))
}
