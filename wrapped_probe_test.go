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

// TestProbeThroughPrepareNeverWaits: a wrapper that offers Prepare alone (as
// wrapConn does) sends the probe of StatsOf as Prepare then Query. The probe must be
// answered without SQLite as QueryContext answers it: it must not wait for the writer or
// the gate while another session holds the writer in a transaction, nor count as a unit
// of work or a route. Without WAL (journal_mode=DELETE) the classifier's share of the gate
// waits for the transaction; in exclusive locking mode the probe is placed on the writer.
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
