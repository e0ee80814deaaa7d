//go:build cgo

package sqliteserial

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestClassifierGateWaitAtClose: on an in-memory database, a read through the *sql.DB that
// waits at the gate inside the classifier when Close runs gets "sql: database is closed".
func TestClassifierGateWaitAtClose(t *testing.T) {
	db, err := sql.Open(DriverName, ":memory:")
	require.NoError(t, err)
	mustExec(t, db, "CREATE TABLE t(v)")
	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t VALUES (1)")
	done := make(chan error, 1)
	go func() {
		var n int
		done <- db.QueryRow("SELECT count(*) FROM t WHERE v > 0").Scan(&n)
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	require.NoError(t, db.Close())
	err = <-done
	t.Logf("after %v: %v", time.Since(start), err)
	require.EqualError(t, err, "sql: database is closed")
	_ = tx.Rollback()
}

// TestWriterGateWaitAtClose: on an in-memory database, a write waiting for the gate (a leaked
// read-only transaction holds a share) when Close runs ends at once.
func TestWriterGateWaitAtClose(t *testing.T) {
	db, err := sql.Open(DriverName, ":memory:")
	require.NoError(t, err)
	mustExec(t, db, "CREATE TABLE t(v)")
	ro, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	_ = queryInt(t, ro, "SELECT count(*) FROM t")
	done := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO t VALUES (1)")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	require.NoError(t, db.Close())
	t.Logf("Close took %v", time.Since(start))
	err = <-done
	t.Logf("write ended %v after Close began: %v", time.Since(start), err)
	require.EqualError(t, err, "sql: database is closed")
	_ = ro.Rollback()
}

// TestNoWriteRunsAfterClose: a write that waited at the gate when Close ran never runs, also
// once the leaked read-only transaction is rolled back.
func TestNoWriteRunsAfterClose(t *testing.T) {
	path := t.TempDir() + "/d.db"
	db, err := sql.Open(DriverName, path+"?_journal_mode=DELETE")
	require.NoError(t, err)
	mustExec(t, db, "CREATE TABLE t(v)")
	ro, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	_ = queryInt(t, ro, "SELECT count(*) FROM t")
	done := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO t VALUES (1)")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, db.Close())
	_ = ro.Rollback()
	err = <-done
	t.Logf("write after Close returned: %v", err)
	m, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	defer m.Close()
	n := queryInt(t, m, "SELECT count(*) FROM t")
	t.Logf("rows in file: %d", n)
	require.Zero(t, n)
}
