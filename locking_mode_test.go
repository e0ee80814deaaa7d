//go:build cgo

package sqliteserial

import (
	"testing"

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
