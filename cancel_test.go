package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// cancelLater returns a context that is cancelled after a random moment of up to max, so
// that cancellations land anywhere: before the call, while it waits for the writer, during
// a statement, between rows, during Commit.
func cancelLater(max time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t := time.AfterFunc(rand.N(max), cancel)
	return ctx, func() { t.Stop(); cancel() }
}

// isCancellation reports whether err is what a cancelled call may return.
func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, sql.ErrTxDone)
}

// TestRandomCancellations runs thousands of calls whose contexts are cancelled at random
// moments and checks, at the end: every call failed only with the cancellation, a write is
// in the database exactly when its caller was told it succeeded, the writer is free, and no
// goroutine is left.
func TestRandomCancellations(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/cancel.db", WriteWait: time.Minute})
	mustExec(t, db, "CREATE TABLE w(id INTEGER PRIMARY KEY, op INTEGER)", "CREATE TABLE r(x INTEGER)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000) INSERT INTO r SELECT i FROM c")

	var nextID atomic.Int64
	var mu sync.Mutex
	succeeded := map[int64]bool{} // write id -> its caller was told it succeeded
	record := func(ok bool, ids ...int64) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			succeeded[id] = ok
		}
	}
	var cancelled atomic.Int64
	check := func(err error, what string) error {
		if err == nil {
			return nil
		}
		if isCancellation(err) {
			cancelled.Add(1)
			return nil
		}
		return fmt.Errorf("%s: %w", what, err)
	}

	ops := []func() error{
		func() error { // an autocommit insert
			ctx, cancel := cancelLater(300 * time.Microsecond)
			defer cancel()
			id := nextID.Add(1)
			_, err := db.ExecContext(ctx, "INSERT INTO w VALUES (?, 1)", id)
			record(err == nil, id)
			return check(err, "insert")
		},
		func() error { // a transaction of two inserts
			ctx, cancel := cancelLater(500 * time.Microsecond)
			defer cancel()
			a, b := nextID.Add(1), nextID.Add(1)
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				record(false, a, b)
				return check(err, "begin")
			}
			_, err = tx.ExecContext(ctx, "INSERT INTO w VALUES (?, 2)", a)
			if err == nil {
				_, err = tx.ExecContext(ctx, "INSERT INTO w VALUES (?, 2)", b)
			}
			if err == nil {
				err = tx.Commit()
			} else {
				_ = tx.Rollback()
			}
			record(err == nil, a, b)
			return check(err, "transaction")
		},
		func() error { // rows read until cancelled
			ctx, cancel := cancelLater(400 * time.Microsecond)
			defer cancel()
			rows, err := db.QueryContext(ctx, "SELECT x FROM r")
			if err != nil {
				return check(err, "query")
			}
			for rows.Next() {
			}
			err = rows.Err()
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
			return check(err, "rows")
		},
		func() error { // a slow write, interrupted mid-statement
			ctx, cancel := cancelLater(3 * time.Millisecond)
			defer cancel()
			first := nextID.Add(1000) - 999
			_, err := db.ExecContext(ctx, "WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM c WHERE i < ?) INSERT INTO w SELECT i, 4 FROM c",
				first, first+999)
			ids := make([]int64, 1000)
			for i := range ids {
				ids[i] = first + int64(i)
			}
			record(err == nil, ids...)
			return check(err, "slow insert")
		},
		func() error { // a read-only transaction
			ctx, cancel := cancelLater(300 * time.Microsecond)
			defer cancel()
			tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				return check(err, "read-only begin")
			}
			var n int
			err = tx.QueryRowContext(ctx, "SELECT count(*) FROM r").Scan(&n)
			if err == nil {
				err = tx.Commit()
			} else {
				_ = tx.Rollback()
			}
			return check(err, "read-only transaction")
		},
	}

	var g errgroup.Group
	for range 16 {
		g.Go(func() error {
			for range 150 {
				if err := ops[rand.IntN(len(ops))](); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())

	// database/sql rolls back a cancelled transaction from its own goroutine: a write
	// waits for those, then finds the writer free.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := db.ExecContext(ctx, "INSERT INTO w VALUES (-1, 0)")
	require.NoError(t, err)

	present := idSet(t, db, "SELECT id FROM w WHERE id > 0")
	var kept, refused int
	for id, ok := range succeeded {
		require.Equal(t, ok, present[id], "write %d: the caller was told success=%v", id, ok)
		if ok {
			kept++
		} else {
			refused++
		}
	}
	require.Len(t, present, kept, "no write that nobody asked for")
	require.Positive(t, cancelled.Load())
	require.Positive(t, kept)
	require.Positive(t, refused)
	t.Logf("%d calls cancelled; %d writes kept, %d refused", cancelled.Load(), kept, refused)

	require.NoError(t, db.Close(), "Close finds the writer free and every reader back")
	require.False(t, cn.writer.held)
}
