package sqliteserial

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// walWorkload writes mib MiB through db, one MiB a transaction, while three readers keep
// reading without pause, their reads overlapping so that the database is never without a
// reader. It returns the largest size the WAL file reached, measured after each
// transaction, and how many reads completed.
func walWorkload(t *testing.T, db *sql.DB, walPath string, mib int) (largest int64, reads int64) {
	t.Helper()
	mustExec(t, db, "CREATE TABLE data(id INTEGER PRIMARY KEY, b BLOB)", "CREATE TABLE side(x)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300) INSERT INTO side SELECT i FROM c")
	ctx, stop := context.WithCancel(context.Background())
	var done atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				var n int64
				err := db.QueryRowContext(ctx, `SELECT count(*) FROM side, side AS s2, data
					WHERE side.x % 7 = s2.x % 5`).Scan(&n)
				if err != nil && ctx.Err() == nil {
					t.Errorf("read: %v", err)
					return
				}
				done.Add(1)
			}
		})
	}
	for range mib {
		tx, err := db.Begin()
		require.NoError(t, err)
		mustExec(t, tx, "DELETE FROM data")
		for range 16 {
			mustExec(t, tx, "INSERT INTO data(b) VALUES (randomblob(65536))")
		}
		require.NoError(t, tx.Commit())
		if info, err := os.Stat(walPath); err == nil {
			largest = max(largest, info.Size())
		}
	}
	stop()
	wg.Wait()
	return largest, done.Load()
}

// TestWALStaysBounded writes 200 MiB while reads overlap without pause: the WAL file never
// grows past _serial_wal_limit by more than the transaction that crossed it.
func TestWALStaysBounded(t *testing.T) {
	const limit = 16 << 20
	path := t.TempDir() + "/wal.db"
	db, cn := openConnector(t, &Config{DSN: path, WALLimit: limit, WriteWait: time.Minute})
	largest, reads := walWorkload(t, db, path+"-wal", 200)
	s := cn.Stats()
	t.Logf("largest WAL %.1f MiB (limit %d MiB); %d checkpoints, %d incomplete; %d reads",
		float64(largest)/(1<<20), limit>>20, s.Checkpoints, s.CheckpointsIncomplete, reads)
	require.LessOrEqual(t, largest, int64(limit+2<<20), "limit plus one transaction of 1 MiB and its page overhead")
	require.Positive(t, s.Checkpoints)
	require.Positive(t, reads)
}

// TestWALGrowsWithoutCheckpointManagement is the same workload, smaller, with the driver's
// checkpoints off: SQLite alone cannot start the WAL over while reads overlap, which is what
// makes the bound above worth a test.
func TestWALGrowsWithoutCheckpointManagement(t *testing.T) {
	path := t.TempDir() + "/wal.db"
	db, _ := openConnector(t, &Config{DSN: path, WALLimit: -1})
	largest, _ := walWorkload(t, db, path+"-wal", 48)
	require.Greater(t, largest, int64(32<<20), "the WAL grew with the writes: %d bytes", largest)
}
