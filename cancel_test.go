//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
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

// readReturned reads up to limit rows of an INSERT ... RETURNING id (all of them when limit
// is negative), checks that each id is one of ids, and closes the rows. It returns the
// first error met: a row's, the rows', or their closing's.
func readReturned(rows *sql.Rows, limit int, ids ...int64) error {
	var err error
	for n := 0; (limit < 0 || n < limit) && rows.Next(); n++ {
		var id int64
		if err = rows.Scan(&id); err != nil {
			break
		}
		if !slices.Contains(ids, id) {
			err = fmt.Errorf("RETURNING gave id %d, not one of %v", id, ids)
			break
		}
	}
	if err == nil {
		err = rows.Err()
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// TestRandomCancellations runs thousands of calls whose contexts are cancelled at random
// moments and checks, at the end: every call failed only with the cancellation, a write is
// in the database exactly when its caller was told it succeeded, the writer is free, and no
// goroutine is left. An INSERT ... RETURNING sent through QueryContext is told by
// QueryContext's error, whatever happens to its rows after; a read that ends without an
// error has read every row.
func TestRandomCancellations(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/cancel.db", WriteWait: time.Minute})
	mustExec(t, db, "CREATE TABLE w(id INTEGER PRIMARY KEY, op INTEGER)", "CREATE TABLE r(x INTEGER)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000) INSERT INTO r SELECT i FROM c")

	var nextID atomic.Int64
	var mu sync.Mutex
	type told struct {
		ok bool   // the caller was told the write succeeded
		op string // the kind of call that wrote it
	}
	succeeded := map[int64]told{} // write id -> what its caller was told
	record := func(op string, ok bool, ids ...int64) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			succeeded[id] = told{ok, op}
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
			record("insert", err == nil, id)
			return check(err, "insert")
		},
		func() error { // a transaction of two inserts
			ctx, cancel := cancelLater(500 * time.Microsecond)
			defer cancel()
			a, b := nextID.Add(1), nextID.Add(1)
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				record("transaction", false, a, b)
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
			record("transaction", err == nil, a, b)
			return check(err, "transaction")
		},
		func() error { // rows read until cancelled
			ctx, cancel := cancelLater(400 * time.Microsecond)
			defer cancel()
			rows, err := db.QueryContext(ctx, "SELECT x FROM r")
			if err != nil {
				return check(err, "query")
			}
			n := 0
			for rows.Next() {
				n++
			}
			err = rows.Err()
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
			if err == nil && n != 2000 {
				return fmt.Errorf("rows: iteration ended without an error after %d of 2000 rows", n)
			}
			return check(err, "rows")
		},
		func() error { // an INSERT ... RETURNING through Query, judged by QueryContext's error
			ctx, cancel := cancelLater(300 * time.Microsecond)
			defer cancel()
			id := nextID.Add(1)
			rows, err := db.QueryContext(ctx, "INSERT INTO w VALUES (?, 5) RETURNING id", id)
			record("insert returning", err == nil, id)
			if err != nil {
				return check(err, "insert returning")
			}
			return check(readReturned(rows, -1, id), "insert returning: rows")
		},
		func() error { // a three-row INSERT ... RETURNING of which only the first row is read
			ctx, cancel := cancelLater(300 * time.Microsecond)
			defer cancel()
			first := nextID.Add(3) - 2
			rows, err := db.QueryContext(ctx, "INSERT INTO w SELECT column1, 6 FROM (VALUES (?), (?), (?)) RETURNING id",
				first, first+1, first+2)
			record("multi-row insert returning", err == nil, first, first+1, first+2)
			if err != nil {
				return check(err, "multi-row insert returning")
			}
			return check(readReturned(rows, 1, first, first+1, first+2), "multi-row insert returning: rows")
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
			record("slow insert", err == nil, ids...)
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
	wrong := map[string]int{} // "op: told ..." -> writes that contradict what their caller was told
	for id, w := range succeeded {
		if w.ok != present[id] {
			wrong[fmt.Sprintf("%s: told success=%v, applied=%v", w.op, w.ok, present[id])]++
		}
		if w.ok {
			kept++
		} else {
			refused++
		}
	}
	require.Empty(t, wrong, "writes applied exactly when their caller was told they succeeded")
	require.Len(t, present, kept, "no write that nobody asked for")
	require.Positive(t, cancelled.Load())
	require.Positive(t, kept)
	require.Positive(t, refused)
	batches := cn.Stats().Batches
	require.Positive(t, batches, "the concurrent autocommit writes formed group commits")
	t.Logf("%d calls cancelled; %d writes kept, %d refused; %d group commits", cancelled.Load(), kept, refused, batches)

	require.NoError(t, db.Close(), "Close finds the writer free and every reader back")
	_, _, held := cn.writer.turn.Holder()
	require.False(t, held)
}

// cancelPoint provides the SQL functions of TestCancellationAtEachPoint, which cancel a
// call at an exact point from inside the statement that runs it. cancel_at(v, at) returns
// v and, when v equals at, cancels the context that arm returned. stall() keeps a
// statement running after that cancellation until the statement is interrupted: it returns
// true from the cancellation until a generous bound has passed since, a bound that only
// turns a driver that never interrupts the statement into a failure instead of a hang.
// Before the cancellation it returns false, so a statement that reached it too early ends
// at once (and the test fails on the call's result) rather than hangs.
type cancelPoint struct {
	mu      sync.Mutex
	cancel  context.CancelFunc
	fired   int
	firedAt time.Time
}

// stallBound is how long stall keeps a statement running after the cancellation.
const stallBound = 30 * time.Second

// driver returns a mattn driver whose connections all have cancel_at and stall.
func (p *cancelPoint) driver() *sqlite3.SQLiteDriver {
	return &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if err := c.RegisterFunc("cancel_at", p.at, false); err != nil {
			return err
		}
		return c.RegisterFunc("stall", p.stall, false)
	}}
}

// arm returns a context that cancel_at cancels, replacing the one armed before.
func (p *cancelPoint) arm(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancel, p.fired = cancel, 0
	return ctx
}

// firings returns how many times cancel_at cancelled since the last arm.
func (p *cancelPoint) firings() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired
}

func (p *cancelPoint) at(v, at int64) int64 {
	if v == at {
		p.mu.Lock()
		if p.cancel != nil {
			p.cancel()
			p.fired++
			p.firedAt = time.Now()
		}
		p.mu.Unlock()
	}
	return v
}

func (p *cancelPoint) stall() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired > 0 && time.Since(p.firedAt) < stallBound
}

// stallingInsert inserts the row (?1, ?2) and cancels the call while it computes the second
// column, when ?2 equals ?3; the statement then keeps running until it is interrupted.
const stallingInsert = `INSERT INTO w VALUES (?1, CASE WHEN cancel_at(?2, ?3) THEN
	(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE stall()) SELECT count(*) FROM c) END)`

// TestCancellationAtEachPoint cancels calls at exact points, from a SQL function the
// statement itself evaluates, and checks at each that the call fails with the context's
// error, that a write is applied exactly when its call succeeded, and that the writer and
// the reader are given back. A write sent through QueryContext is settled before
// QueryContext returns: its error says whether it was applied.
func TestCancellationAtEachPoint(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	var p cancelPoint
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/points.db", WriteWait: time.Minute, Driver: p.driver()})
	mustExec(t, db, "CREATE TABLE w(id INTEGER PRIMARY KEY, v INTEGER)", "CREATE TABLE other(v INTEGER)",
		"CREATE TABLE r(x INTEGER PRIMARY KEY)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200) INSERT INTO r SELECT i FROM c")

	present := func(t *testing.T, ids ...int64) int {
		t.Helper()
		n := 0
		for _, id := range ids {
			n += int(queryInt(t, db, "SELECT count(*) FROM w WHERE id = ?", id))
		}
		return n
	}
	// writerFree checks that the writer is free: a write with a fresh context gets it (after
	// any rollback database/sql runs from a goroutine of its own) and nothing holds it after.
	writerFree := func(t *testing.T) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := db.ExecContext(ctx, "INSERT INTO other VALUES (1)")
		require.NoError(t, err, "a write after the cancelled call gets the writer")
		_, _, held := cn.writer.turn.Holder()
		require.False(t, held, "the writer is free")
		_, depth := cn.writer.turn.Stats()
		require.Zero(t, depth)
	}
	// queryWrite runs a write through QueryContext and, when QueryContext succeeds, reads
	// its rows to the end.
	queryWrite := func(ctx context.Context, query string, args ...any) error {
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		return errors.Join(rows.Err(), rows.Close())
	}

	t.Run("autocommit Exec", func(t *testing.T) {
		ctx := p.arm(t)
		_, err := db.ExecContext(ctx, stallingInsert, 1, 1, 1)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, p.firings())
		require.Zero(t, present(t, 1), "a cancelled insert is not applied")
		writerFree(t)
	})

	t.Run("autocommit Exec ending right after the cancellation", func(t *testing.T) {
		// Nothing is left to interrupt once the function returns: the call may succeed,
		// but its row is there exactly when it does.
		ctx := p.arm(t)
		_, err := db.ExecContext(ctx, "INSERT INTO w VALUES (2, cancel_at(2, 2))")
		require.Equal(t, 1, p.firings())
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
		require.Equal(t, err == nil, present(t, 2) == 1, "applied exactly when ExecContext succeeded (err: %v)", err)
		writerFree(t)
	})

	for _, c := range []struct {
		name  string
		query string
		args  []any
		ids   []int64
	}{
		{"RETURNING list", "INSERT INTO w VALUES (?, 0) RETURNING cancel_at(id, ?)", []any{10, 10}, []int64{10}},
		{"VALUES", "INSERT INTO w VALUES (?, cancel_at(?, ?)) RETURNING id", []any{11, 11, 11}, []int64{11}},
		{"VALUES, stalling", stallingInsert + " RETURNING id", []any{12, 12, 12}, []int64{12}},
	} {
		t.Run("INSERT RETURNING by QueryContext, cancelled in its "+c.name, func(t *testing.T) {
			ctx := p.arm(t)
			rows, err := db.QueryContext(ctx, c.query, c.args...)
			if err == nil {
				rows.Close()
			}
			require.ErrorIs(t, err, context.Canceled, "QueryContext settles the write and reports the cancellation")
			require.Equal(t, 1, p.firings())
			require.Zero(t, present(t, c.ids...), "QueryContext failed: the insert is not applied")
			writerFree(t)
		})
	}

	for _, c := range []struct {
		name  string
		query string
		first int64
	}{
		{"SELECT", "INSERT INTO w SELECT column1, cancel_at(column1, ?4) FROM (VALUES (?1), (?2), (?3)) RETURNING id", 20},
		{"RETURNING list", "INSERT INTO w SELECT column1, 0 FROM (VALUES (?1), (?2), (?3)) RETURNING cancel_at(id, ?4)", 25},
	} {
		t.Run("multi-row INSERT RETURNING, cancelled at its last row in the "+c.name, func(t *testing.T) {
			ctx := p.arm(t)
			a, b, last := c.first, c.first+1, c.first+2
			err := queryWrite(ctx, c.query, a, b, last, last)
			require.Error(t, err, "QueryContext reports the cancellation")
			require.Equal(t, 1, p.firings())
			require.Zero(t, present(t, a, b, last), "no row of a failed insert is applied")
			writerFree(t)
		})
	}

	t.Run("multi-row INSERT RETURNING, cancelled after QueryContext returned", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rows, err := db.QueryContext(ctx, "INSERT INTO w SELECT column1, 0 FROM (VALUES (30), (31), (32)) RETURNING id")
		require.NoError(t, err)
		cancel()
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
		require.NoError(t, rows.Close())
		require.Equal(t, 3, present(t, 30, 31, 32), "QueryContext succeeded: the insert is applied")
		writerFree(t)
	})

	t.Run("multi-row INSERT RETURNING, rows closed after the first", func(t *testing.T) {
		rows, err := db.QueryContext(context.Background(), "INSERT INTO w SELECT column1, 0 FROM (VALUES (33), (34), (35)) RETURNING id")
		require.NoError(t, err)
		require.True(t, rows.Next())
		require.NoError(t, rows.Close())
		require.Equal(t, 3, present(t, 33, 34, 35), "QueryContext succeeded: the insert is applied")
		writerFree(t)
	})

	t.Run("SELECT on a reader, cancelled between rows", func(t *testing.T) {
		const k = 50
		ctx := p.arm(t)
		before := stats(t, db).ReadRoutes
		// In the primary key's order, so that no sorter evaluates every row at the first step.
		rows, err := db.QueryContext(ctx, "SELECT cancel_at(x, ?) FROM r ORDER BY x", k+1)
		require.NoError(t, err)
		require.Equal(t, before+1, stats(t, db).ReadRoutes, "the query went to a reader")
		require.Equal(t, 1, stats(t, db).ReadersInUse)
		seen := 0
		for rows.Next() {
			var x int64
			require.NoError(t, rows.Scan(&x))
			seen++
			require.EqualValues(t, seen, x)
		}
		require.ErrorIs(t, rows.Err(), context.Canceled)
		require.Equal(t, 1, p.firings())
		require.Equal(t, k, seen, "the rows before the cancellation, none after")
		require.NoError(t, rows.Close())
		require.Zero(t, stats(t, db).ReadersInUse, "the reader is given back")
	})

	t.Run("a transaction's statement", func(t *testing.T) {
		ctx := p.arm(t)
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, "INSERT INTO w VALUES (40, 0)")
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, stallingInsert, 41, 41, 41)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, p.firings())
		err = tx.Commit()
		require.Error(t, err)
		require.True(t, errors.Is(err, sql.ErrTxDone) || errors.Is(err, context.Canceled), "Commit: %v", err)
		require.Zero(t, present(t, 40, 41), "nothing of the transaction is applied")
		writerFree(t)
	})

	t.Run("after a transaction's last statement, before Commit", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		for _, id := range []int64{50, 51} {
			_, err = tx.ExecContext(ctx, "INSERT INTO w VALUES (?, 0)", id)
			require.NoError(t, err)
		}
		cancel()
		err = tx.Commit()
		require.Error(t, err)
		require.True(t, errors.Is(err, sql.ErrTxDone) || errors.Is(err, context.Canceled), "Commit: %v", err)
		require.Zero(t, present(t, 50, 51), "nothing of the transaction is applied")
		writerFree(t)
	})

	require.NoError(t, db.Close(), "Close finds the writer free and every reader back")
	goleak.VerifyNone(t, ignore)
}
