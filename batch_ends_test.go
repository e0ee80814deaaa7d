//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// settled requires that no caller of a batch and no waiter granted the writer of cn is
// still counted as ready to run.
func settled(t *testing.T, cn *Connector, what string) {
	t.Helper()
	require.Zero(t, cn.writer.woken.Load(), "%s: woken callers", what)
	require.Zero(t, cn.writer.turn.Readied(), "%s: waiters granted the writer", what)
}

// TestBatchEndsOfEveryKindSettleTheCounts ends batches in each way but a plain COMMIT: SQLite
// rolls one back (RAISE(ROLLBACK)), a write that leaves a deferred foreign key violation
// runs again alone, and a waiter granted the writer as its context ended commits the batch
// left open for it (release(unrun)) while the batch's other caller waits: each caller gets
// its answer, and afterwards the writer counts no goroutine as ready to run.
func TestBatchEndsOfEveryKindSettleTheCounts(t *testing.T) {
	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "ends.db") + "?_fk=1")
	require.NoError(t, err)
	db, cn := openConnector(t, cfg)
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)",
		"CREATE TRIGGER refuse BEFORE INSERT ON t WHEN NEW.v = 'bad' BEGIN SELECT RAISE(ROLLBACK, 'refused'); END",
		"CREATE TABLE parent(id INTEGER PRIMARY KEY); INSERT INTO parent VALUES (1)",
		"CREATE TABLE child(id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")

	out := runAsBatch(t, db, cn, []func(context.Context) (sql.Result, error){
		insertOf(db, "a"), insertOf(db, "b"), insertOf(db, "bad"), insertOf(db, "c"),
	})
	require.NoError(t, out[0].err)
	require.NoError(t, out[1].err)
	require.ErrorContains(t, out[2].err, "refused")
	require.NoError(t, out[3].err)
	settled(t, cn, "a batch SQLite rolled back")

	child := func(p int) func(context.Context) (sql.Result, error) {
		return func(ctx context.Context) (sql.Result, error) {
			return db.ExecContext(ctx, "INSERT INTO child(p) VALUES (?)", p)
		}
	}
	out = runAsBatch(t, db, cn, []func(context.Context) (sql.Result, error){child(1), child(2), child(1)})
	require.NoError(t, out[0].err)
	require.Error(t, out[1].err)
	require.NoError(t, out[2].err)
	settled(t, cn, "a write run again alone for its deferred foreign key")

	hErr, wErr := batchLeftOpenForAGiveUp(t, db, cn)
	require.NoError(t, hErr)
	require.ErrorIs(t, wErr, context.Canceled)
	settled(t, cn, "a batch committed by a waiter that gave up as it was granted the writer")
	require.Equal(t, []string{"a", "b", "c", "h"}, valuesOf(t, db))
}
