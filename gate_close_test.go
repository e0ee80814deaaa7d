//go:build cgo

package sqliteserial

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// gateWaits returns a channel that receives each time a caller of cn starts waiting at the
// gate of a database without WAL.
func gateWaits(t *testing.T, cn *Connector) <-chan struct{} {
	require.NoError(t, cn.start())
	require.NotNil(t, cn.gate, "the database has no WAL")
	waits := make(chan struct{}, 16)
	cn.gate.testHookWaiting = func() { waits <- struct{}{} }
	return waits
}

// TestGateWaitsEndAtClose: on databases without WAL, a write waiting for the gate (a leaked
// read-only transaction holds a share) and a read waiting in the classifier (a transaction
// holds the writer) when Close runs end at once with database/sql's "sql: database is
// closed", and the write never runs, also once the leaked transaction ends.
func TestGateWaitsEndAtClose(t *testing.T) {
	for _, dsn := range []string{":memory:", filepath.Join(t.TempDir(), "d.db") + "?_journal_mode=DELETE"} {
		t.Run("write/"+dsn, func(t *testing.T) {
			db, cn := openConnector(t, &Config{DSN: dsn})
			mustExec(t, db, "CREATE TABLE t(v)")
			waits := gateWaits(t, cn)
			ro, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			require.Zero(t, queryInt(t, ro, "SELECT count(*) FROM t"))
			done := make(chan error, 1)
			go func() {
				_, err := db.Exec("INSERT INTO t VALUES (1)")
				done <- err
			}()
			receive(t, waits)
			require.NoError(t, db.Close())
			require.EqualError(t, receive(t, done), "sql: database is closed")
			require.NoError(t, ro.Rollback())
			if dsn != ":memory:" {
				plain, err := sql.Open("sqlite3", dsn)
				require.NoError(t, err)
				defer plain.Close()
				require.Zero(t, queryInt(t, plain, "SELECT count(*) FROM t"), "the refused write never ran")
			}
		})
	}
	t.Run("classifier", func(t *testing.T) {
		db, cn := openConnector(t, &Config{DSN: ":memory:"})
		mustExec(t, db, "CREATE TABLE t(v)")
		waits := gateWaits(t, cn)
		tx, err := db.Begin()
		require.NoError(t, err)
		mustExec(t, tx, "INSERT INTO t VALUES (1)")
		done := make(chan error, 1)
		go func() {
			var n int
			done <- db.QueryRow("SELECT count(*) FROM t WHERE v > 0").Scan(&n)
		}()
		receive(t, waits)
		require.NoError(t, db.Close())
		require.EqualError(t, receive(t, done), "sql: database is closed")
		require.NoError(t, tx.Rollback())
	})
}
