//go:build cgo

package sqliteserial

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runaway is a query that never ends by itself.
const runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

// runawayWrite is a write that never ends by itself.
const runawayWrite = "INSERT INTO t(v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"

func requireTimeLimit(t *testing.T, err error, limit time.Duration) {
	t.Helper()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var e *TimeLimitError
	require.ErrorAs(t, err, &e)
	require.Equal(t, limit, e.Limit)
}

// TestTimeLimitStopsARunawayRead checks that _serial_query_timeout interrupts a read, by
// Query and by a prepared statement, and that the pool works afterwards.
func TestTimeLimitStopsARunawayRead(t *testing.T) {
	db, _ := openDB(t, "_serial_query_timeout=100ms")
	mustExec(t, db, "CREATE TABLE t(v INTEGER)", "INSERT INTO t VALUES (1)")

	var n int64
	requireTimeLimit(t, db.QueryRow(runaway).Scan(&n), 100*time.Millisecond)

	st, err := db.Prepare(runaway)
	require.NoError(t, err)
	defer st.Close()
	requireTimeLimit(t, st.QueryRow().Scan(&n), 100*time.Millisecond)

	require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"), "the readers still work")
	mustExec(t, db, "INSERT INTO t VALUES (2)")
}

// TestTimeLimitCoversReadingRows checks that the limit runs until the rows are closed: a
// slow scan over rows read one by one is interrupted in Next.
func TestTimeLimitCoversReadingRows(t *testing.T) {
	db, _ := openDB(t, "_serial_query_timeout=100ms")
	rows, err := db.Query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
	}
	requireTimeLimit(t, rows.Err(), 100*time.Millisecond)
}

// TestTimeLimitStopsARunawayWrite checks that writes have the limit too, that the write is
// rolled back and that the writer is free afterwards.
func TestTimeLimitStopsARunawayWrite(t *testing.T) {
	db, _ := openDB(t, "_serial_query_timeout=100ms")
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	_, err := db.Exec(runawayWrite)
	requireTimeLimit(t, err, 100*time.Millisecond)
	require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t"))
	mustExec(t, db, "INSERT INTO t VALUES (1)")
	require.Zero(t, stats(t, db).WriterQueueDepth)
}

// TestTimeLimitRollsBackAWriteTransaction checks that a transaction whose statement runs out
// of time is rolled back at once and frees the writer; the rest of it fails.
func TestTimeLimitRollsBackAWriteTransaction(t *testing.T) {
	db, _ := openDB(t, "_serial_query_timeout=100ms")
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t VALUES (1)")
	var n int64
	requireTimeLimit(t, tx.QueryRow(runaway).Scan(&n), 100*time.Millisecond)

	mustExec(t, db, "INSERT INTO t VALUES (2)") // the writer is free while the Tx is still open
	_, err = tx.Exec("INSERT INTO t VALUES (3)")
	require.ErrorIs(t, err, ErrTxAborted)
	err = tx.Commit()
	require.ErrorIs(t, err, ErrTxAborted)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	var vs string
	require.NoError(t, db.QueryRow("SELECT group_concat(v) FROM t").Scan(&vs))
	require.Equal(t, "2", vs)
}

// TestTimeLimitRollsBackATransactionBegunInSQL checks the same for BEGIN sent as SQL.
func TestTimeLimitRollsBackATransactionBegunInSQL(t *testing.T) {
	db, _ := openDB(t, "_serial_query_timeout=100ms")
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	c := session(t, db)
	mustExec(t, c, "BEGIN", "INSERT INTO t VALUES (1)")
	_, err := c.ExecContext(background, runawayWrite)
	requireTimeLimit(t, err, 100*time.Millisecond)
	mustExec(t, db, "INSERT INTO t VALUES (2)")
	require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"))
}

// TestEarlierContextDeadlineWins checks that a context deadline sooner than the limit ends
// the statement with the context's own error.
func TestEarlierContextDeadlineWins(t *testing.T) {
	db, _ := openDB(t, "_serial_query_timeout=1h")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var n int64
	err := db.QueryRowContext(ctx, runaway).Scan(&n)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var e *TimeLimitError
	require.False(t, errors.As(err, &e), "the context's deadline ended it, not the limit: %v", err)

	ctx, cancel = context.WithCancel(context.Background())
	rows, err := db.QueryContext(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
	require.NoError(t, err)
	require.True(t, rows.Next())
	cancel()
	for rows.Next() {
	}
	require.ErrorIs(t, rows.Err(), context.Canceled)
	require.NoError(t, rows.Close())
}

// TestNoTimeLimitByDefault checks that without the key nothing is interrupted by the driver.
func TestNoTimeLimitByDefault(t *testing.T) {
	db, _ := openDB(t, "")
	var n int64
	require.NoError(t, db.QueryRow("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT count(*) FROM c").Scan(&n))
	require.EqualValues(t, 200000, n)
}
