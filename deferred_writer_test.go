//go:build cgo

package sqliteserial

import (
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// openFilesOf counts the file descriptors of the process open on path.
func openFilesOf(t *testing.T, path string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	want, err := filepath.EvalSymlinks(path)
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == want {
			n++
		}
	}
	return n
}

// TestReadingAWALFileOpensOneConnection opens a file that is in WAL mode already, reads it
// through a new *sql.DB, and requires one connection on it, as with mattn: nothing is to be
// switched, so the writer opens only when a unit of work needs it, and a new SELECT is
// judged on the reader that runs it, with no classifier.
func TestReadingAWALFileOpensOneConnection(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts file descriptors through /proc/self/fd")
	}
	path := filepath.Join(t.TempDir(), "wal.db")
	db, err := sql.Open(DriverName, path)
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE t(v); INSERT INTO t VALUES (1), (2)")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	for _, driverName := range []string{"sqlite3", DriverName} {
		db, err := sql.Open(driverName, path)
		require.NoError(t, err)
		require.NoError(t, db.Ping())
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
		require.Equal(t, 2, n)
		require.Equal(t, 1, openFilesOf(t, path), "%s: connections open on the file", driverName)
		require.NoError(t, db.Close())
		require.Equal(t, 0, openFilesOf(t, path), "%s: connections left open after Close", driverName)
	}
}

// TestDeferredWriterWritesAndCheckpoints writes through a *sql.DB opened on a file in WAL
// mode already, whose writer opens at the first write, and requires what a writer opened at
// once gives: ids, transactions, reads of the writes, and a WAL emptied at Close.
func TestDeferredWriterWritesAndCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	db, err := sql.Open(DriverName, path)
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db, err = sql.Open(DriverName, path)
	require.NoError(t, err)
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode)
	res, err := db.Exec("INSERT INTO t(v) VALUES ('a')")
	require.NoError(t, err)
	id, err := res.LastInsertId()
	require.NoError(t, err)
	require.Equal(t, int64(1), id)
	tx, err := db.Begin()
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO t(v) VALUES ('b')")
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 2, n)
	require.NoError(t, db.Close())

	if info, err := os.Stat(path + "-wal"); err == nil {
		require.Zero(t, info.Size(), "the WAL is checkpointed into the file at Close")
	}
	plain, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	defer plain.Close()
	require.NoError(t, plain.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 2, n)
}
