//go:build cgo

package sqliteserial

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExternalReportsAutocheckpointOff: with _serial_checkpoint=external the
// connections that write run with wal_autocheckpoint 0, and PRAGMA wal_autocheckpoint
// through the *sql.DB reports it, as it would on one mattn connection set up that way.
func TestExternalReportsAutocheckpointOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := sql.Open(DriverName, path+"?_serial_checkpoint=external")
	require.NoError(t, err)
	defer db.Close()
	mustExec(t, db, "CREATE TABLE t(v)")
	require.Equal(t, int64(0), queryInt(t, db, "PRAGMA wal_autocheckpoint"), "through the *sql.DB")
	c := session(t, db)
	mustExec(t, c, "CREATE TEMP TABLE mine(v)") // the session gets a connection of its own
	require.Equal(t, int64(0), queryInt(t, c, "PRAGMA wal_autocheckpoint"), "on a session's own connection")
}

// TestExternalSessionConnections: sessions pinned by a temp table, an ATTACH or a
// per-session pragma write with SQLite's automatic checkpoints off.
func TestExternalSessionConnections(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	db, err := sql.Open(DriverName, path+"?_serial_checkpoint=external")
	require.NoError(t, err)
	defer db.Close()
	mustExec(t, db, "CREATE TABLE t(v)")
	for _, pin := range []string{
		"CREATE TEMP TABLE mine(v)",
		"ATTACH '" + filepath.Join(dir, "other.db") + "' AS other",
		"PRAGMA defer_foreign_keys = 1",
	} {
		c := session(t, db)
		mustExec(t, c, pin, "INSERT INTO t VALUES (1)")
		require.Equal(t, int64(0), queryInt(t, c, "PRAGMA wal_autocheckpoint"), pin)
		require.NoError(t, c.Close())
	}
}

// TestExternalCloseLeavesTheWAL checks that Close in external mode, with no other handle
// on the file, leaves the WAL to the other process: SQLite's own checkpoint when the last
// connection on the file closes is off too.
func TestExternalCloseLeavesTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sql.Open(DriverName, path+"?_serial_checkpoint=external")
	require.NoError(t, err)
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	for range 100 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(1000))")
	}
	require.Equal(t, int64(100), queryInt(t, db, "SELECT count(*) FROM t"))
	before := walSize(path + "-wal")
	require.Positive(t, before)
	require.NoError(t, db.Close())
	_, err = os.Stat(path + "-wal")
	require.NoError(t, err, "the WAL is still there for the other process")
	require.Equal(t, before, walSize(path+"-wal"))
}

// TestExternalDeferredWriter: a file in WAL mode already, whose writer opens lazily.
func TestExternalDeferredWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	plain, err := sql.Open("sqlite3", path+"?_journal_mode=WAL")
	require.NoError(t, err)
	mustExec(t, plain, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	holdOtherRead(t, path)
	require.NoError(t, plain.Close())

	db, cn := openConnector(t, &Config{DSN: path, ExternalCheckpoints: true})
	require.True(t, cn.writerDeferred)
	for range 1500 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(1000))")
	}
	autocheckpoint := writerValue(t, db, "PRAGMA wal_autocheckpoint")
	require.Equal(t, "0", autocheckpoint)
	require.Greater(t, walSize(path+"-wal"), int64(1500*1000))
	require.Zero(t, cn.Stats().Checkpoints)
	before := walSize(path + "-wal")
	require.NoError(t, db.Close())
	require.Equal(t, before, walSize(path+"-wal"))
}
