//go:build cgo

package sqliteserial

import (
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/stretchr/testify/require"
)

// TestBackToNormalLockingMode: after PRAGMA locking_mode = NORMAL through the driver, writes
// and reads work again without "database is locked".
func TestBackToNormalLockingMode(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(v)")
	mustExec(t, db, "PRAGMA locking_mode = EXCLUSIVE")
	mustExec(t, db, "INSERT INTO t VALUES (1)")
	mustExec(t, db, "PRAGMA locking_mode = NORMAL")
	mustExec(t, db, "INSERT INTO t VALUES (2)")
	require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t"))
}

// TestBackToNormalLockingModeAfterAWriterRead: the same after a read on the writer.
func TestBackToNormalLockingModeAfterAWriterRead(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(v)")
	mustExec(t, db, "PRAGMA locking_mode = EXCLUSIVE")
	mustExec(t, db, "INSERT INTO t VALUES (1)")
	mustExec(t, db, "PRAGMA locking_mode = NORMAL")
	require.NoError(t, WithWriter(background, db, func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("SELECT 1 FROM sqlite_schema LIMIT 1", nil)
		return err
	}))
	mustExec(t, db, "INSERT INTO t VALUES (2)")
	require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t"))
}
