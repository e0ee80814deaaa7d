//go:build cgo

package sqliteserial

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBackoffRecoversOnceTheOtherReaderLeft checks that the writer goes back to
// truncating the WAL once a reader outside the driver that blocked a checkpoint went away:
// SQLite's own PASSIVE checkpoints (every 1000 pages, the default) then start the WAL over
// at its beginning, so the WAL file no longer grows, and the writer sees the WAL started
// over (its header's salts changed) instead of waiting for growth that never comes.
func TestBackoffRecoversOnceTheOtherReaderLeft(t *testing.T) {
	const limit = 8 << 20
	path := filepath.Join(t.TempDir(), "r.db")
	db, cn := openConnector(t, &Config{DSN: path + "?_busy_timeout=5000", WALLimit: limit})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")

	other, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
	require.NoError(t, err)
	defer other.Close()
	reading, err := other.Begin()
	require.NoError(t, err)
	require.Positive(t, queryInt(t, reading, "SELECT count(*) FROM sqlite_schema"))
	for i := 0; cn.Stats().CheckpointsBlocked == 0; i++ {
		require.Less(t, i, 20000, "no checkpoint was blocked")
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(4000))")
	}
	require.NoError(t, reading.Rollback())
	require.NoError(t, other.Close()) // the other reader is gone for good
	blocked := cn.Stats()
	t.Logf("blocked with WAL %d KiB", walSize(path+"-wal")>>10)

	time.Sleep(2 * checkpointBackoff)
	for range 8000 { // 32 MB more, four times the limit
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(4000))")
	}
	s := cn.Stats()
	t.Logf("after: WAL %d KiB; checkpoints %d (were %d), incomplete %d, blocked %d",
		walSize(path+"-wal")>>10, s.Checkpoints, blocked.Checkpoints, s.CheckpointsIncomplete, s.CheckpointsBlocked)
	require.Greater(t, s.Checkpoints-s.CheckpointsIncomplete, blocked.Checkpoints-blocked.CheckpointsIncomplete,
		"a checkpoint of the driver's finished once nothing outside the driver read any more")
	require.Less(t, walSize(path+"-wal"), int64(limit-limit/8), "the WAL file was truncated again")
}

// TestPreparedExecOfASelectIsNotAnotherProcess checks that a prepared SELECT run with
// Exec (mattn steps it to its first row and leaves it there) does not keep its reader in
// the read: no checkpoint is counted as blocked by a reader outside the driver, and the WAL
// stays bounded, with no other process or handle on the file.
func TestPreparedExecOfASelectIsNotAnotherProcess(t *testing.T) {
	const limit = 64 << 10
	path := filepath.Join(t.TempDir(), "p.db")
	db, cn := openConnector(t, &Config{DSN: path, WALLimit: limit})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)", "INSERT INTO t(v) VALUES (1), (2)")
	st, err := db.Prepare("SELECT id FROM t")
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Exec()
	require.NoError(t, err)
	for range 3000 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(200))")
	}
	s := cn.Stats()
	t.Logf("WAL %d KiB; checkpoints %d, incomplete %d, blocked %d", walSize(path+"-wal")>>10,
		s.Checkpoints, s.CheckpointsIncomplete, s.CheckpointsBlocked)
	require.Zero(t, s.CheckpointsBlocked, "no reader outside the driver exists")
	require.Less(t, walSize(path+"-wal"), int64(1<<20), "nothing outside the driver keeps the WAL")
}

// TestSmallLimitStaysBelowItself checks that with a small limit (64 KiB, as
// TestCheckpointsBlockedByAnotherHandleBackOff uses) and no reader at all the WAL stays
// below the limit itself: the writer looks at the WAL more often than every 32 units when
// 32 units would write more than the last eighth of the limit.
func TestSmallLimitStaysBelowItself(t *testing.T) {
	const limit = 64 << 10
	path := filepath.Join(t.TempDir(), "l.db")
	db, cn := openConnector(t, &Config{DSN: path, WALLimit: limit})
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	var largest int64
	for range 2000 {
		mustExec(t, db, "INSERT INTO t(v) VALUES (randomblob(200))")
		largest = max(largest, walSize(path+"-wal"))
	}
	s := cn.Stats()
	t.Logf("largest WAL %d KiB (limit %d KiB); %d checkpoints, %d incomplete", largest>>10, limit>>10, s.Checkpoints, s.CheckpointsIncomplete)
	require.Zero(t, s.CheckpointsIncomplete)
	require.Less(t, largest, int64(limit))
}
