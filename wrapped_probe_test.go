//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProbeThroughPrepareNeverWaits checks the probe of StatsOf through a wrapper that
// offers Prepare alone (as wrapConn does), which sends it as Prepare then Query: it is
// answered without SQLite, so it waits neither for the writer nor for the gate while
// another session holds the writer in a transaction (without WAL, and in exclusive locking
// mode), and counts as no unit of work and no route.
func TestProbeThroughPrepareNeverWaits(t *testing.T) {
	for _, query := range []string{"_journal_mode=DELETE", "_locking_mode=EXCLUSIVE"} {
		t.Run(query, func(t *testing.T) {
			cn, err := NewConnector(&Config{DSN: filepath.Join(t.TempDir(), "p.db") + "?" + query, WriteWait: 300 * time.Millisecond})
			require.NoError(t, err)
			db := sql.OpenDB(wrapConnector{cn})
			t.Cleanup(func() { db.Close() })
			mustExec(t, db, "CREATE TABLE t(v)")

			before := cn.Stats()
			s, err := StatsOf(db)
			require.NoError(t, err)
			require.Equal(t, before.WriterUnits, s.WriterUnits, "the probe is no unit of work")
			require.Equal(t, before.ReadRoutes+before.WriteRoutes, s.ReadRoutes+s.WriteRoutes, "the probe is routed nowhere")

			mustExec(t, db, "CREATE TABLE u(v)") // a new schema: the router's judgements are dropped
			tx, err := db.BeginTx(context.Background(), nil)
			require.NoError(t, err)
			defer tx.Rollback()
			mustExec(t, tx, "INSERT INTO t VALUES (1)")
			began := time.Now()
			_, err = StatsOf(db)
			require.NoError(t, err, "StatsOf while a transaction holds the writer")
			require.Less(t, time.Since(began), 100*time.Millisecond, "the probe waited for the writer")
		})
	}
}
