//go:build cgo

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

// walSize returns the size of the WAL file at path, 0 when there is none.
func walSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

// walWorkload writes mib MiB through db, one MiB a transaction, while three readers keep
// reading without pause, their reads overlapping so that the database is never without a
// reader. It returns the largest size the WAL file reached, as the writer saw it after each
// Commit and as the readers saw it after each read (the driver checkpoints before Commit
// returns, so only the readers, whose reads the checkpoint waits for, see the WAL at its
// largest), and how many reads completed.
func walWorkload(t *testing.T, db *sql.DB, walPath string, mib int) (largest int64, reads int64) {
	t.Helper()
	var seen atomic.Int64 // the largest size sampled, by the readers and the writer
	sample := func() {
		size := walSize(walPath)
		for old := seen.Load(); size > old && !seen.CompareAndSwap(old, size); old = seen.Load() {
		}
	}
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
				sample()
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
		sample()
	}
	stop()
	wg.Wait()
	return seen.Load(), done.Load()
}

// TestWALStaysBounded writes 200 MiB while reads overlap without pause: the WAL file never
// grows past _serial_wal_limit by more than the transaction that crossed it, as sampled
// after every read and every Commit.
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
