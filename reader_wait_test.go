//go:build cgo

package sqliteserial

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReaderWaitOfAReadThatGaveUp checks that a read that gives up waiting for a reader
// (its context ends at _serial_readers_max) is not in ReaderWaitTimes, which counts the
// waits of the reads handed a reader (TestStatsHistograms: Count == ReaderAcquisitions).
func TestReaderWaitOfAReadThatGaveUp(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "r.db"), Readers: 1, ReadersMax: 1})
	mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)")
	waiting := make(chan struct{}, 16)
	cn.readers.mu.Lock()
	cn.readers.testHookWaiting = func() { waiting <- struct{}{} }
	cn.readers.overflowAfter = time.Hour
	cn.readers.mu.Unlock()

	rows, err := db.Query("SELECT v FROM t") // holds the only reader while open
	require.NoError(t, err)
	require.True(t, rows.Next())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var n int64
		done <- db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
	}()
	receive(t, waiting)
	cancel()
	require.ErrorIs(t, receive(t, done), context.Canceled)
	require.NoError(t, rows.Close())

	s := cn.Stats()
	require.Equal(t, s.ReaderAcquisitions, s.ReaderWaitTimes.Count, "the read that gave up was handed no reader")
}
