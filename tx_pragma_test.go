//go:build cgo

package sqliteserial

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestScriptBeginPragmaStaysTheSessions: a pragma set by the statement that begins a
// transaction in SQL (one script) stays the session's, not the shared writer's.
func TestScriptBeginPragmaStaysTheSessions(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(v)")
	a, b := session(t, db), session(t, db)
	mustExec(t, a, "BEGIN; PRAGMA query_only = 1")
	mustExec(t, a, "COMMIT")
	_, err := b.ExecContext(background, "INSERT INTO t VALUES (1)")
	t.Logf("other session's write: %v (mattn: nil)", err)
	for i := range 2 {
		_, e := db.Exec("INSERT INTO t VALUES (2)")
		t.Logf("db write %d later: %v", i, e)
	}
	require.NoError(t, err)
}

// TestPragmaInATransactionPersistsForTheSession: a pragma a session sets inside its
// transaction stays set for it after the transaction, as on one connection.
func TestPragmaInATransactionPersistsForTheSession(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(v)")
	a := session(t, db)
	tx, err := a.BeginTx(background, nil)
	require.NoError(t, err)
	mustExec(t, tx, "PRAGMA query_only = 1")
	require.NoError(t, tx.Commit())
	_, err = db.Exec("INSERT INTO t VALUES (1)")
	t.Logf("BeginTx variant, db write: %v", err)
	mustExec(t, a, "PRAGMA query_only = 0")
	mustExec(t, a, "BEGIN; PRAGMA query_only = 1")
	mustExec(t, a, "COMMIT")
	for i := range 3 {
		_, err = db.Exec("INSERT INTO t VALUES (2)")
		t.Logf("script variant, db write %d: %v", i, err)
	}
}
