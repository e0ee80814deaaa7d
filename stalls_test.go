package sqliteserial

import (
	"database/sql"
	"path/filepath"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// The tests of this file check that the driver adds no wait that plain mattn/go-sqlite3
// does not have, and surfaces what mattn surfaces.

// TestPingOpensAReadOnlyDatabase: Ping on a read-only database that cannot be opened gives
// SQLite's own error, with its system errno, as mattn's Ping does.
func TestPingOpensAReadOnlyDatabase(t *testing.T) {
	missing := "file:" + filepath.Join(t.TempDir(), "missing.db") + "?mode=ro"
	var errs [2]sqlite3.Error
	for i, name := range []string{"sqlite3", "sqlite-serial"} {
		db, err := sql.Open(name, missing)
		require.NoError(t, err)
		require.ErrorAs(t, db.Ping(), &errs[i], name)
		require.NoError(t, db.Close())
	}
	require.Equal(t, sqlite3.ErrCantOpen, errs[1].Code)
	require.Equal(t, errs[0].Code, errs[1].Code)
	require.Equal(t, errs[0].ExtendedCode, errs[1].ExtendedCode)
	require.Equal(t, errs[0].SystemErrno, errs[1].SystemErrno)
	require.NotZero(t, errs[1].SystemErrno)
}

// TestRowsOfReadsOnTheWriterDoNotHoldIt: rows of statements that only read but run on the
// writer (a read of last_insert_rowid(), a script ending in a SELECT) do not keep other
// sessions' writes waiting while the caller loops over them, as mattn's do not. Without
// that, the first write inside the loop gives up after the write-wait limit.
func TestRowsOfReadsOnTheWriterDoNotHoldIt(t *testing.T) {
	db, _ := openDB(t, "?_serial_write_wait=500ms")
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "INSERT INTO t(v) VALUES (1), (2), (3)")
	for _, q := range []string{
		"SELECT id, last_insert_rowid() FROM t",
		"UPDATE t SET v = v + 1 WHERE id = 1; SELECT id FROM t",
		"SELECT id, changes() FROM t",
	} {
		rows, err := db.Query(q)
		require.NoError(t, err, q)
		n := 0
		for rows.Next() {
			n++
			_, err := db.Exec("INSERT INTO t(v) VALUES ('inside the loop')")
			require.NoError(t, err, q)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		require.GreaterOrEqual(t, n, 3, q)
	}
}

// TestInMemoryWriteWhileRowsAreOpen: on an in-memory database (no WAL), rows left open do
// not keep a write waiting (mattn's TestNilAndEmptyBytes shape), and a session never sees
// another's uncommitted transaction.
func TestInMemoryWriteWhileRowsAreOpen(t *testing.T) {
	for _, dsn := range []string{":memory:?_serial_write_wait=500ms", "file:" + filepath.Join(t.TempDir(), "j.db") + "?_journal_mode=DELETE&_serial_write_wait=500ms"} {
		db, err := sql.Open("sqlite-serial", dsn)
		require.NoError(t, err)
		mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "INSERT INTO t(v) VALUES (1), (2)")
		rows, err := db.Query("SELECT id FROM t")
		require.NoError(t, err)
		require.True(t, rows.Next())
		_, err = db.Exec("INSERT INTO t(v) VALUES (3)")
		require.NoError(t, err, dsn)

		tx, err := db.Begin()
		require.NoError(t, err)
		_, err = tx.Exec("INSERT INTO t(v) VALUES ('uncommitted')")
		require.NoError(t, err)
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
		require.NoError(t, tx.Rollback())
		require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM t"), dsn)
		require.NoError(t, db.Close())
	}
}
