//go:build cgo

package sqliteserial

import (
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// holdOtherRead opens plain mattn on the file at path, as another process would, and
// keeps one read open on it until the test ends.
func holdOtherRead(t *testing.T, path string) {
	t.Helper()
	other, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
	require.NoError(t, err)
	reading, err := other.Begin()
	require.NoError(t, err)
	require.Positive(t, queryInt(t, reading, "SELECT count(*) FROM sqlite_schema"))
	t.Cleanup(func() {
		reading.Rollback()
		other.Close()
	})
}

// writerValue returns the one value query reads on db's writer connection.
func writerValue(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	var v string
	require.NoError(t, WithWriter(background, db, func(w *sqlite3.SQLiteConn) error {
		var err error
		v, err = queryText(w, query)
		return err
	}))
	return v
}

// TestCheckpointsBlockedByAnotherHandleBackOff writes, one autocommit insert at a time,
// far past a small _serial_wal_limit while another handle on the file holds a read: every
// checkpoint is blocked. The writer backs off instead of trying after every look, holds no
// lock waiting for that reader, and reports the blocked checkpoints.
func TestCheckpointsBlockedByAnotherHandleBackOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	db, cn := openConnector(t, &Config{DSN: path + "?_busy_timeout=5000", WALLimit: 64 << 10})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	holdOtherRead(t, path)

	const n = 3000
	start := time.Now()
	for range n {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(200))")
	}
	took := time.Since(start)
	s := cn.Stats()
	t.Logf("%d inserts in %v; %d checkpoints, %d incomplete, %d blocked; WAL %d KiB",
		n, took, s.Checkpoints, s.CheckpointsIncomplete, s.CheckpointsBlocked, walSize(path+"-wal")>>10)
	require.Positive(t, s.CheckpointsBlocked, "another handle's read blocked the checkpoints")
	require.Equal(t, s.CheckpointsIncomplete, s.CheckpointsBlocked, "no read of the driver's kept them")
	require.LessOrEqual(t, s.Checkpoints, uint64(8), "the writer backed off (it looks at the WAL about %d times)", n/checkpointEvery)
	require.Less(t, took, 5*time.Second, "plain mattn takes well under a second")
}

// TestCheckpointsBlockedOnlyByTheDriversReadsDoNotBackOff checks the other side: a
// checkpoint that the driver's own long read keeps from finishing is incomplete, not
// blocked, and the writer tries again at its next look once that read ended.
func TestCheckpointsBlockedOnlyByTheDriversReadsDoNotBackOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	db, cn := openConnector(t, &Config{DSN: path, WALLimit: 64 << 10, WriteWait: 400 * time.Millisecond})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	rows, err := db.Query("SELECT id FROM t")
	require.NoError(t, err)
	for range 600 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(200))")
	}
	require.NoError(t, rows.Close())
	s := cn.Stats()
	require.Positive(t, s.CheckpointsIncomplete, "the open rows kept the checkpoints from finishing")
	require.Zero(t, s.CheckpointsBlocked)
	for range 200 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(200))")
	}
	after := cn.Stats()
	require.Greater(t, after.Checkpoints-after.CheckpointsIncomplete, s.Checkpoints-s.CheckpointsIncomplete,
		"a checkpoint finished once the rows closed")
}

// TestWALStaysBelowItsLimit writes small autocommit inserts from four goroutines while
// readers overlap without pause: sampled after every insert and every read, the WAL file
// never reaches _serial_wal_limit itself, however the looks at its size fall between the
// units of work.
func TestWALStaysBelowItsLimit(t *testing.T) {
	const limit = 4 << 20
	path := filepath.Join(t.TempDir(), "w.db")
	db, cn := openConnector(t, &Config{DSN: path, WALLimit: limit, WriteWait: time.Minute})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	var largest int64
	var mu sync.Mutex
	sample := func() {
		size := walSize(path + "-wal")
		mu.Lock()
		largest = max(largest, size)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var readers, writers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int64
				if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
					t.Errorf("read: %v", err)
					return
				}
				sample()
			}
		})
	}
	for range 4 {
		writers.Go(func() {
			for range 1500 {
				if _, err := db.Exec("INSERT INTO t(v) VALUES (randomblob(1000))"); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
				sample()
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	s := cn.Stats()
	t.Logf("largest WAL %d KiB (limit %d KiB); %d checkpoints, %d incomplete", largest>>10, limit>>10, s.Checkpoints, s.CheckpointsIncomplete)
	require.Positive(t, s.Checkpoints)
	require.Less(t, largest, int64(limit))
}

// TestExternalCheckpointsLeaveTheWALAlone: with _serial_checkpoint=external the driver runs
// no checkpoint, SQLite's automatic ones are off on the writer, and Close leaves the WAL as
// it was for the other process that checkpoints it.
func TestExternalCheckpointsLeaveTheWALAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.db")
	db, err := sql.Open(DriverName, path+"?_serial_checkpoint=external")
	require.NoError(t, err)
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	holdOtherRead(t, path) // the process that checkpoints, so that Close is not the last
	for range 3000 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(1000))")
	}
	autocheckpoint := writerValue(t, db, "PRAGMA wal_autocheckpoint")
	require.Equal(t, "0", autocheckpoint, "SQLite's automatic checkpoints are off on the writer")
	s := stats(t, db)
	require.Zero(t, s.Checkpoints)
	before := walSize(path + "-wal")
	require.Greater(t, before, int64(3000*1000), "SQLite's automatic checkpoints did not start the WAL over")
	start := time.Now()
	require.NoError(t, db.Close())
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, before, walSize(path+"-wal"), "Close left the WAL to the other process")
}

// TestExternalCheckpointsKey parses and formats _serial_checkpoint and refuses it beside
// _serial_wal_limit.
func TestExternalCheckpointsKey(t *testing.T) {
	cfg, err := ParseDSN("x.db?_serial_checkpoint=external&_busy_timeout=5000")
	require.NoError(t, err)
	require.True(t, cfg.ExternalCheckpoints)
	require.Equal(t, "x.db?_busy_timeout=5000", cfg.DSN)
	require.Equal(t, "x.db?_busy_timeout=5000&_serial_checkpoint=external", cfg.FormatDSN())
	cfg, err = ParseDSN("x.db?_serial_checkpoint=driver")
	require.NoError(t, err)
	require.False(t, cfg.ExternalCheckpoints)
	_, err = ParseDSN("x.db?_serial_checkpoint=litestream")
	require.ErrorContains(t, err, "_serial_checkpoint")
	_, err = ParseDSN("x.db?_serial_checkpoint=external&_serial_wal_limit=8M")
	require.ErrorContains(t, err, "give one of them")
	cfg, err = ParseDSN("x.db?_serial_checkpoint=external&_serial_wal_limit=0")
	require.NoError(t, err, "a limit of 0 (off) agrees with external checkpoints")
	again, err := ParseDSN(cfg.FormatDSN())
	require.NoError(t, err)
	require.Equal(t, cfg, again)
	_, err = NewConnector(&Config{DSN: "x.db", ExternalCheckpoints: true, WALLimit: 8 << 20})
	require.ErrorContains(t, err, "give one of them")
}
