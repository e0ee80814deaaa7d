//go:build cgo

package sqliteserial

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBusyTimeoutSurvivesAFailedRestore checks the checkpoint's busy timeout of 0 when
// setting the writer's own back fails (here an authorizer of the program's ConnectHook
// refuses busy_timeout but 0): the writer does not go on with a busy timeout of 0, so a
// write that meets another handle's brief write lock waits the 5 s the DSN asks for instead
// of failing at once with "database is locked".
func TestBusyTimeoutSurvivesAFailedRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.RegisterAuthorizer(func(op int, arg1, arg2, _ string) int {
			if op == sqlite3.SQLITE_PRAGMA && arg1 == "busy_timeout" && arg2 != "" && arg2 != "0" {
				return sqlite3.SQLITE_DENY
			}
			return sqlite3.SQLITE_OK
		})
		return nil
	}}
	db, cn := openConnector(t, &Config{DSN: path + "?_busy_timeout=5000", WALLimit: 64 << 10, Driver: drv})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	for i := 0; cn.Stats().Checkpoints == 0; i++ {
		require.Less(t, i, 5000, "no checkpoint ran")
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(1000))")
	}

	timeout := writerValue(t, db, "PRAGMA busy_timeout")
	assert.Equal(t, "5000", timeout, "the writer's busy timeout after the checkpoint")

	// Another handle holds the write lock for a moment; the driver's write waits it out.
	other, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
	require.NoError(t, err)
	defer other.Close()
	tx, err := other.Begin()
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err)
	go func() {
		time.Sleep(200 * time.Millisecond)
		assert.NoError(t, tx.Commit())
	}()
	_, err = db.Exec("INSERT INTO t(v) VALUES (2)")
	require.NoError(t, err, "a write waits for another handle's brief lock")
}
