//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExclusiveModeTransactionKeepsTempObjects: in exclusive locking mode a transaction with
// DDL keeps the temp objects created before it, which that mode shares among sessions.
func TestExclusiveModeTransactionKeepsTempObjects(t *testing.T) {
	run := func(name, dsn string) (n int64, err error) {
		db, err := sql.Open(name, dsn)
		require.NoError(t, err)
		defer db.Close()
		db.SetMaxOpenConns(1)
		c, err := db.Conn(context.Background())
		require.NoError(t, err)
		defer c.Close()
		mustExec(t, c, "CREATE TABLE t(v)", "CREATE TEMP TABLE keep(x)", "INSERT INTO keep VALUES (1)")
		tx, err := c.BeginTx(context.Background(), nil)
		require.NoError(t, err)
		mustExec(t, tx, "CREATE TABLE u(v)")
		require.NoError(t, tx.Commit())
		err = c.QueryRowContext(context.Background(), "SELECT count(*) FROM keep").Scan(&n)
		return n, err
	}
	dir := t.TempDir()
	mn, merr := run("sqlite3", filepath.Join(dir, "m.db")+"?_locking_mode=EXCLUSIVE&_journal_mode=WAL")
	dn, derr := run(DriverName, filepath.Join(dir, "d.db")+"?_locking_mode=EXCLUSIVE")
	t.Logf("mattn: %v %v; driver: %v %v", mn, merr, dn, derr)
	require.NoError(t, merr)
	require.NoError(t, derr)
	require.Equal(t, mn, dn)
}
