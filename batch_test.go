//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// batchOutcomeOf is what one write of a batch gave its caller.
type batchOutcomeOf struct {
	id  int64
	n   int64
	err error
}

// queueBehindTx holds the writer with a transaction, starts each of fns in a goroutine of
// its own so that they queue in the order given, then commits the transaction, which lets
// them in (the first opens a batch and the others join it, in order), and returns their
// errors, in the order of fns.
func queueBehindTx(t *testing.T, db *sql.DB, cn *Connector, fns []func() error) []error {
	t.Helper()
	return queueBehindTxThen(t, db, cn, fns, func() {})
}

// queueBehindTxThen is queueBehindTx that calls queuedAll once every call queued, before
// it commits the transaction.
func queueBehindTxThen(t *testing.T, db *sql.DB, cn *Connector, fns []func() error, queuedAll func()) []error {
	t.Helper()
	tx, err := db.Begin()
	require.NoError(t, err)
	_, err = tx.Exec("CREATE TABLE IF NOT EXISTS holder(x)")
	require.NoError(t, err)
	depths := queued(t, cn)
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
		require.Equal(t, i+1, receive(t, depths), "call %d queued behind the ones before it", i)
	}
	queuedAll()
	require.NoError(t, tx.Commit())
	wg.Wait()
	return errs
}

// runAsBatch runs the writes through queueBehindTx and returns each one's outcome, in the
// order of writes.
func runAsBatch(t *testing.T, db *sql.DB, cn *Connector, writes []func(context.Context) (sql.Result, error)) []batchOutcomeOf {
	t.Helper()
	out := make([]batchOutcomeOf, len(writes))
	var fns []func() error
	for i, write := range writes {
		fns = append(fns, func() error {
			res, err := write(context.Background())
			if err == nil {
				out[i].id, _ = res.LastInsertId()
				out[i].n, _ = res.RowsAffected()
			}
			return err
		})
	}
	for i, err := range queueBehindTx(t, db, cn, fns) {
		out[i].err = err
	}
	return out
}

// insertOf returns a write of v into t through db.
func insertOf(db *sql.DB, v string) func(context.Context) (sql.Result, error) {
	return func(ctx context.Context) (sql.Result, error) {
		return db.ExecContext(ctx, "INSERT INTO t(v) VALUES (?)", v)
	}
}

func openBatchDB(t *testing.T, query string) (*sql.DB, *Connector) {
	t.Helper()
	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "batch.db") + query)
	require.NoError(t, err)
	db, cn := openConnector(t, cfg)
	_, err = db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
	require.NoError(t, err)
	return db, cn
}

// TestBatchCommitsWritesThatWaited lets 8 inserts in at once and requires them to run as
// one batch, each with its own LastInsertId and RowsAffected, all committed.
func TestBatchCommitsWritesThatWaited(t *testing.T) {
	db, cn := openBatchDB(t, "")
	var writes []func(context.Context) (sql.Result, error)
	for i := range 8 {
		writes = append(writes, insertOf(db, fmt.Sprint("v", i)))
	}
	out := runAsBatch(t, db, cn, writes)
	ids := map[int64]bool{}
	for i, o := range out {
		require.NoError(t, o.err)
		require.Equal(t, int64(1), o.n)
		var v string
		require.NoError(t, db.QueryRow("SELECT v FROM t WHERE id = ?", o.id).Scan(&v))
		require.Equal(t, fmt.Sprint("v", i), v, "the LastInsertId of write %d is its own row's", i)
		ids[o.id] = true
	}
	require.Len(t, ids, 8)
	st := cn.Stats()
	require.Equal(t, uint64(1), st.Batches)
	require.Equal(t, uint64(8), st.BatchedWrites)
	require.Equal(t, 8, st.BatchMax)
}

// TestBatchOffRunsEachWriteAlone turns group commit off with _serial_batch_max=1 and
// requires no batch.
func TestBatchOffRunsEachWriteAlone(t *testing.T) {
	db, cn := openBatchDB(t, "?_serial_batch_max=1")
	var writes []func(context.Context) (sql.Result, error)
	for i := range 4 {
		writes = append(writes, insertOf(db, fmt.Sprint("v", i)))
	}
	for _, o := range runAsBatch(t, db, cn, writes) {
		require.NoError(t, o.err)
	}
	require.Zero(t, cn.Stats().Batches)
}

// TestBatchConstraintFailsOnlyItsWrite puts an insert that breaks a UNIQUE constraint among
// others in a batch: its caller gets SQLite's own error, as alone, and the others commit.
func TestBatchConstraintFailsOnlyItsWrite(t *testing.T) {
	db, cn := openBatchDB(t, "")
	_, err := db.Exec("INSERT INTO t(v) VALUES ('taken')")
	require.NoError(t, err)
	writes := []func(context.Context) (sql.Result, error){
		insertOf(db, "a"), insertOf(db, "b"), insertOf(db, "taken"), insertOf(db, "c"), insertOf(db, "d"),
	}
	out := runAsBatch(t, db, cn, writes)
	for i, o := range out {
		if i == 2 {
			var se sqlite3.Error
			require.ErrorAs(t, o.err, &se)
			require.Equal(t, sqlite3.ErrConstraintUnique, se.ExtendedCode)
			continue
		}
		require.NoError(t, o.err, "write %d", i)
	}
	require.Equal(t, []string{"a", "b", "c", "d", "taken"}, valuesOf(t, db))
	require.Equal(t, uint64(1), cn.Stats().Batches)
}

// TestBatchRolledBackBySQLiteRunsTheOthersAgain puts a write whose trigger raises
// ROLLBACK in a batch: SQLite rolls the whole transaction back, the write at fault gets its
// error and the writes before it run again, so that every other write is committed once.
func TestBatchRolledBackBySQLiteRunsTheOthersAgain(t *testing.T) {
	db, cn := openBatchDB(t, "")
	_, err := db.Exec("CREATE TRIGGER refuse BEFORE INSERT ON t WHEN NEW.v = 'bad' BEGIN SELECT RAISE(ROLLBACK, 'refused'); END")
	require.NoError(t, err)
	writes := []func(context.Context) (sql.Result, error){
		insertOf(db, "a"), insertOf(db, "b"), insertOf(db, "bad"), insertOf(db, "c"),
	}
	out := runAsBatch(t, db, cn, writes)
	for i, o := range out {
		if i == 2 {
			require.ErrorContains(t, o.err, "refused")
			continue
		}
		require.NoError(t, o.err, "write %d", i)
		var v string
		require.NoError(t, db.QueryRow("SELECT v FROM t WHERE id = ?", o.id).Scan(&v))
		require.Equal(t, []string{"a", "b", "", "c"}[i], v, "write %d's LastInsertId", i)
	}
	require.Equal(t, []string{"a", "b", "c"}, valuesOf(t, db))
	require.Equal(t, uint64(1), cn.Stats().BatchesRolledBack)
}

// TestBatchDeferredForeignKeyFailsOnlyItsWrite puts a write that leaves a deferred foreign
// key violation in a batch: its own COMMIT would refuse it, so it runs again alone and gets
// the error mattn gives it, and the others commit.
func TestBatchDeferredForeignKeyFailsOnlyItsWrite(t *testing.T) {
	const schema = "CREATE TABLE parent(id INTEGER PRIMARY KEY); INSERT INTO parent VALUES (1);" +
		"CREATE TABLE child(id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
	plain, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "fk.db")+"?_fk=1")
	require.NoError(t, err)
	defer plain.Close()
	_, err = plain.Exec(schema)
	require.NoError(t, err)
	_, want := plain.Exec("INSERT INTO child(p) VALUES (2)")
	require.Error(t, want)

	db, cn := openBatchDB(t, "?_fk=1")
	_, err = db.Exec(schema)
	require.NoError(t, err)
	child := func(p int) func(context.Context) (sql.Result, error) {
		return func(ctx context.Context) (sql.Result, error) {
			return db.ExecContext(ctx, "INSERT INTO child(p) VALUES (?)", p)
		}
	}
	out := runAsBatch(t, db, cn, []func(context.Context) (sql.Result, error){child(1), child(2), child(1)})
	require.NoError(t, out[0].err)
	require.NoError(t, out[2].err)
	require.Error(t, out[1].err)
	require.Equal(t, want.Error(), out[1].err.Error())
	var got, wantErr sqlite3.Error
	require.ErrorAs(t, out[1].err, &got)
	require.ErrorAs(t, want, &wantErr)
	require.Equal(t, wantErr.ExtendedCode, got.ExtendedCode)
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM child").Scan(&n))
	require.Equal(t, 2, n)
}

// TestBatchCommitFailureFailsEveryWrite refuses, with a commit hook, every COMMIT that wrote
// to t: after the batch's COMMIT is refused, each write runs again alone and gets the refusal
// of its own COMMIT, as on plain mattn, and none is applied.
func TestBatchCommitFailureFailsEveryWrite(t *testing.T) {
	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "hook.db"))
	require.NoError(t, err)
	cfg.BatchMax = defaultBatchMax // a ConnectHook turns group commit off unless asked for
	cfg.Driver = &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		wrote := false // the connection's own: its hooks run inside its calls
		c.RegisterUpdateHook(func(_ int, _, table string, _ int64) { wrote = wrote || table == "t" })
		c.RegisterRollbackHook(func() { wrote = false })
		c.RegisterCommitHook(func() int {
			refuse := wrote
			wrote = false
			if refuse {
				return 1
			}
			return 0
		})
		return nil
	}}
	db, cn := openConnector(t, cfg)
	_, err = db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
	require.NoError(t, err)
	var writes []func() error
	for i := range 3 {
		writes = append(writes, func() error {
			_, err := db.Exec("INSERT INTO t(v) VALUES (?)", fmt.Sprint(i))
			return err
		})
	}
	for i, err := range queueBehindTx(t, db, cn, writes) {
		var se sqlite3.Error
		require.ErrorAs(t, err, &se, "write %d", i)
		require.Equal(t, sqlite3.ErrConstraintCommitHook, se.ExtendedCode, "write %d", i)
	}
	require.Empty(t, valuesOf(t, db))
	require.Equal(t, uint64(1), cn.Stats().BatchesRolledBack)
}

// TestBatchCallerWhoseContextEndsAfterItsWriteRan cancels the context of a write that ran
// in a batch while a later write of the batch still runs: the caller waits for the COMMIT
// and reports success, and its write is applied.
func TestBatchCallerWhoseContextEndsAfterItsWriteRan(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "ctx.db"))
	require.NoError(t, err)
	cfg.BatchMax = defaultBatchMax // a ConnectHook turns group commit off unless asked for
	cfg.Driver = &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		return c.RegisterFunc("hold", func(v string) string {
			if v == "held" {
				close(entered)
				<-release
			}
			return v
		}, false)
	}}
	db, cn := openConnector(t, cfg)
	_, err = db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := func(context.Context) (sql.Result, error) {
		return db.ExecContext(ctx, "INSERT INTO t(v) VALUES (hold(?))", "first")
	}
	second := func(c context.Context) (sql.Result, error) {
		return db.ExecContext(c, "INSERT INTO t(v) VALUES (hold(?))", "held")
	}
	go func() {
		<-entered // the first write ran; the second runs now, in the same batch
		cancel()
		close(release)
	}()
	out := runAsBatch(t, db, cn, []func(context.Context) (sql.Result, error){first, second})
	require.NoError(t, out[0].err, "the first write ran before its context ended: it reports its commit")
	require.NoError(t, out[1].err)
	require.Equal(t, []string{"first", "held"}, valuesOf(t, db))
	require.Equal(t, uint64(1), cn.Stats().Batches)
}

// TestBatchOfWritesThroughQuery runs INSERT ... RETURNING through Query in a batch: each
// caller reads its own row's id, and the rows are committed when Query returns.
func TestBatchOfWritesThroughQuery(t *testing.T) {
	db, cn := openBatchDB(t, "")
	ids := make([]int64, 6)
	var writes []func(context.Context) (sql.Result, error)
	for i := range ids {
		writes = append(writes, func(ctx context.Context) (sql.Result, error) {
			err := db.QueryRowContext(ctx, "INSERT INTO t(v) VALUES (?) RETURNING id", fmt.Sprint("q", i)).Scan(&ids[i])
			return driver0{}, err
		})
	}
	for _, o := range runAsBatch(t, db, cn, writes) {
		require.NoError(t, o.err)
	}
	for i, id := range ids {
		var v string
		require.NoError(t, db.QueryRow("SELECT v FROM t WHERE id = ?", id).Scan(&v))
		require.Equal(t, fmt.Sprint("q", i), v)
	}
	require.Equal(t, uint64(1), cn.Stats().Batches)
}

// driver0 is a result with nothing in it.
type driver0 struct{}

func (driver0) LastInsertId() (int64, error) { return 0, nil }
func (driver0) RowsAffected() (int64, error) { return 0, errors.New("none") }

// valuesOf returns the values of t, sorted.
func valuesOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT v FROM t")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	sort.Strings(out)
	return out
}
