//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// TestBatchAppliesBroadcastSettingsFirst records PRAGMA foreign_keys = ON through a session
// of its own connection and then lets inserts in as a batch: the writer applies the setting
// before the batch opens (inside a transaction it could not), so each insert fails as alone.
func TestBatchAppliesBroadcastSettingsFirst(t *testing.T) {
	for _, q := range []string{"?_serial_batch_max=1", ""} {
		t.Run("dsn"+q, func(t *testing.T) {
			cfg, err := ParseDSN(filepath.Join(t.TempDir(), "p.db") + q)
			require.NoError(t, err)
			db, cn := openConnector(t, cfg)
			mustExec(t, db, "CREATE TABLE parent(id INTEGER PRIMARY KEY)",
				"CREATE TABLE child(id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id))")
			s := session(t, db)
			mustExec(t, s, "CREATE TEMP TABLE pin(x)") // the session gets a connection of its own
			fns := []func() error{func() error {
				_, err := s.ExecContext(background, "PRAGMA foreign_keys = ON")
				return err
			}}
			for range 3 {
				fns = append(fns, func() error {
					_, err := db.Exec("INSERT INTO child(p) VALUES (99)")
					return err
				})
			}
			errs := queueBehindTx(t, db, cn, fns)
			require.NoError(t, errs[0])
			for i, err := range errs[1:] {
				require.ErrorContains(t, err, "FOREIGN KEY constraint failed", "insert %d ran after PRAGMA foreign_keys = ON returned", i)
			}
			require.Zero(t, queryInt(t, db, "SELECT count(*) FROM child"))
		})
	}
}

// TestBatchOrFailWithDeferredForeignKeyFailsOnlyItsWrite puts an OR FAIL insert that fails
// part way and leaves a deferred foreign key violation among other writes: it runs again
// alone and gets mattn's error, and the others commit.
func TestBatchOrFailWithDeferredForeignKeyFailsOnlyItsWrite(t *testing.T) {
	const schema = "CREATE TABLE parent(id INTEGER PRIMARY KEY); INSERT INTO parent VALUES (1);" +
		"CREATE TABLE child(id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED, u TEXT UNIQUE);" +
		"INSERT INTO child(p, u) VALUES (1, 'taken')"
	const orFail = "INSERT OR FAIL INTO child(p, u) VALUES (2, 'new'), (1, 'taken')"
	plain, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "plain.db")+"?_fk=1")
	require.NoError(t, err)
	defer plain.Close()
	mustExec(t, plain, schema)
	_, want := plain.Exec(orFail)
	require.Error(t, want)
	t.Logf("plain mattn: %v", want)

	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "b.db") + "?_fk=1")
	require.NoError(t, err)
	db, cn := openConnector(t, cfg)
	mustExec(t, db, schema)
	ins := func(u string) func() error {
		return func() error { _, err := db.Exec("INSERT INTO child(p, u) VALUES (1, ?)", u); return err }
	}
	errs := queueBehindTx(t, db, cn, []func() error{ins("a"), func() error { _, err := db.Exec(orFail); return err }, ins("b")})
	t.Logf("batch: %v", errs)
	require.NoError(t, errs[0], "an innocent write")
	require.NoError(t, errs[2], "an innocent write")
	require.Equal(t, want.Error(), errs[1].Error())
	require.Equal(t, int64(3), queryInt(t, db, "SELECT count(*) FROM child"))
}

// TestBatchFailureWaitsForTheWritesBeforeIt fails a write on a UNIQUE conflict with an
// earlier write of its batch, which SQLite then rolls back with the batch: the failed write
// must not be answered with a conflict against a row that was never committed.
func TestBatchFailureWaitsForTheWritesBeforeIt(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "f.db"))
	require.NoError(t, err)
	cfg.BatchMax = defaultBatchMax // a ConnectHook turns group commit off unless asked for
	cfg.Driver = driverWithFunc("hold", func(v string) string {
		if v == "bad" {
			close(entered)
			<-release
		}
		return v
	})
	db, cn := openConnector(t, cfg)
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)",
		"CREATE TRIGGER refuse BEFORE INSERT ON t WHEN NEW.v = 'bad' BEGIN SELECT RAISE(ROLLBACK, 'refused'); END")
	ctxA, cancelA := context.WithCancel(background)
	defer cancelA()
	go func() {
		<-entered // A and B ran; C runs now, in the same batch
		cancelA() // A's caller gives up while waiting for the COMMIT
		close(release)
	}()
	errs := queueBehindTx(t, db, cn, []func() error{
		func() error { _, err := db.ExecContext(ctxA, "INSERT INTO t(v) VALUES ('x')"); return err },
		func() error { _, err := db.Exec("INSERT INTO t(v) VALUES ('x')"); return err },
		func() error { _, err := db.Exec("INSERT INTO t(v) VALUES (hold('bad'))"); return err },
	})
	t.Logf("A: %v; B: %v; C: %v", errs[0], errs[1], errs[2])
	require.ErrorContains(t, errs[2], "refused")
	var se sqlite3.Error
	if errors.As(errs[1], &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
		require.Equal(t, []string{"x"}, valuesOf(t, db),
			"B was told 'x' exists, so some write of 'x' must have been applied (A reports %v)", errs[0])
	}
}

// TestBatchKeepsTheWALBounded writes past _serial_wal_limit in one batch and requires the
// checkpoint after it, as after the same writes one by one.
func TestBatchKeepsTheWALBounded(t *testing.T) {
	for _, q := range []string{"&_serial_batch_max=1", ""} {
		t.Run("dsn"+q, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.db")
			cfg, err := ParseDSN(path + "?_serial_wal_limit=256K" + q)
			require.NoError(t, err)
			db, cn := openConnector(t, cfg)
			mustExec(t, db, "CREATE TABLE data(id INTEGER PRIMARY KEY, b BLOB)")
			var fns []func() error
			for range 4 {
				fns = append(fns, func() error { _, err := db.Exec("INSERT INTO data(b) VALUES (randomblob(300000))"); return err })
			}
			for _, err := range queueBehindTx(t, db, cn, fns) {
				require.NoError(t, err)
			}
			size := walSize(path + "-wal")
			t.Logf("WAL %d bytes after the writes returned; checkpoints %d; batches %d", size, cn.Stats().Checkpoints, cn.Stats().Batches)
			require.LessOrEqual(t, size, int64(640<<10), "WAL past the 256 KiB limit by more than one write")
		})
	}
}

var registerVeto sync.Once

// TestBatchCommitVetoOfOneWriteFailsOnlyIt vetoes, with a commit hook, every commit that
// touched one table: after the batch's COMMIT is refused, each write runs again alone, and only
// the write to that table fails, as on plain mattn.
func TestBatchCommitVetoOfOneWriteFailsOnlyIt(t *testing.T) {
	var mu sync.Mutex
	flagged := false
	hook := func(c *sqlite3.SQLiteConn) error {
		c.RegisterUpdateHook(func(op int, db, table string, rowid int64) {
			if table == "forbidden" {
				mu.Lock()
				flagged = true
				mu.Unlock()
			}
		})
		c.RegisterCommitHook(func() int {
			mu.Lock()
			defer mu.Unlock()
			veto := flagged
			flagged = false
			if veto {
				return 1
			}
			return 0
		})
		c.RegisterRollbackHook(func() { mu.Lock(); flagged = false; mu.Unlock() })
		return nil
	}
	const schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE); CREATE TABLE forbidden(x)"
	// Alone, on plain mattn with the same hooks: only the forbidden insert fails.
	registerVeto.Do(func() { sql.Register("sqlite3_batch_veto", &sqlite3.SQLiteDriver{ConnectHook: hook}) })
	plain, err := sql.Open("sqlite3_batch_veto", filepath.Join(t.TempDir(), "plain.db"))
	require.NoError(t, err)
	defer plain.Close()
	mustExec(t, plain, schema)
	_, err = plain.Exec("INSERT INTO t(v) VALUES ('a')")
	require.NoError(t, err)
	_, err = plain.Exec("INSERT INTO forbidden VALUES (1)")
	require.Error(t, err)

	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "v.db"))
	require.NoError(t, err)
	cfg.Driver = &sqlite3.SQLiteDriver{ConnectHook: hook}
	cfg.BatchMax = defaultBatchMax // a ConnectHook turns group commit off unless asked for
	db, cn := openConnector(t, cfg)
	mustExec(t, db, schema)
	errs := queueBehindTx(t, db, cn, []func() error{
		func() error { _, err := db.Exec("INSERT INTO t(v) VALUES ('a')"); return err },
		func() error { _, err := db.Exec("INSERT INTO forbidden VALUES (1)"); return err },
		func() error { _, err := db.Exec("INSERT INTO t(v) VALUES ('b')"); return err },
	})
	t.Logf("batch: %v", errs)
	require.Error(t, errs[1])
	require.NoError(t, errs[0], "alone, this write commits")
	require.NoError(t, errs[2], "alone, this write commits")
}

// TestBatchLastChangesOfAnIgnoredInsert requires an INSERT OR IGNORE that was ignored inside a
// batch to report its session's own LastInsertId, RowsAffected, last_insert_rowid() and
// changes().
func TestBatchLastChangesOfAnIgnoredInsert(t *testing.T) {
	db, cn := openBatchDB(t, "")
	s := session(t, db)
	mustExec(t, s, "INSERT INTO t(id, v) VALUES (100, 'p')")
	var res sql.Result
	errs := queueBehindTx(t, db, cn, []func() error{
		func() error { _, err := db.Exec("INSERT INTO t(v) VALUES ('o1')"); return err },
		func() error {
			var err error
			res, err = s.ExecContext(background, "INSERT OR IGNORE INTO t(id, v) VALUES (100, 'dup')")
			return err
		},
		func() error { _, err := db.Exec("INSERT INTO t(v) VALUES ('o2')"); return err },
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	id, _ := res.LastInsertId()
	n, _ := res.RowsAffected()
	require.Equal(t, [2]int64{100, 0}, [2]int64{id, n})
	var a, b int64
	require.NoError(t, s.QueryRowContext(background, "SELECT last_insert_rowid(), changes()").Scan(&a, &b))
	require.Equal(t, [2]int64{100, 0}, [2]int64{a, b})
	require.Equal(t, uint64(1), cn.Stats().Batches)
}

// TestBatchLastChangesAfterARefusedCommit refuses a batch's COMMIT and requires the session's
// last_insert_rowid() and changes() afterwards to be mattn's after its refused autocommit
// write.
func TestBatchLastChangesAfterARefusedCommit(t *testing.T) {
	// The hook reads a package variable: the plain driver is registered once per process,
	// and runs of the test after the first must steer it too.
	hook := func(c *sqlite3.SQLiteConn) error {
		c.RegisterCommitHook(func() int {
			if batchRefusing.Load() {
				return 1
			}
			return 0
		})
		return nil
	}
	set := batchRefusing.Store
	registerRefuse.Do(func() { sql.Register("sqlite3_batch_refuse", &sqlite3.SQLiteDriver{ConnectHook: hook}) })
	plain, err := sql.Open("sqlite3_batch_refuse", filepath.Join(t.TempDir(), "plain.db"))
	require.NoError(t, err)
	defer plain.Close()
	plain.SetMaxOpenConns(1)
	mustExec(t, plain, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(id, v) VALUES (7, 'seed')")
	set(true)
	_, err = plain.Exec("INSERT INTO t(id, v) VALUES (50, 'x')")
	set(false)
	require.Error(t, err)
	var wantRowid, wantChanges int64
	require.NoError(t, plain.QueryRow("SELECT last_insert_rowid(), changes()").Scan(&wantRowid, &wantChanges))

	cfg, err := ParseDSN(filepath.Join(t.TempDir(), "l.db") + batchLedgerQuery)
	require.NoError(t, err)
	cfg.Driver = &sqlite3.SQLiteDriver{ConnectHook: hook}
	cfg.BatchMax = defaultBatchMax // a ConnectHook turns group commit off unless asked for
	db, cn := openConnector(t, cfg)
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	s := session(t, db)
	mustExec(t, s, "INSERT INTO t(id, v) VALUES (7, 'seed')")
	tx, err := db.Begin()
	require.NoError(t, err)
	depths := queued(t, cn)
	errs := make(chan error, 2)
	go func() { _, err := s.ExecContext(background, "INSERT INTO t(id, v) VALUES (50, 'x')"); errs <- err }()
	receive(t, depths)
	go func() { _, err := db.Exec("INSERT INTO t(id, v) VALUES (60, 'y')"); errs <- err }()
	receive(t, depths)
	set(true) // before the writes are let in: a rollback asks no commit hook
	require.NoError(t, tx.Rollback())
	e1, e2 := <-errs, <-errs
	t.Logf("errors: %v; %v; stats %+v", e1, e2, cn.Stats())
	require.Error(t, e1)
	require.Error(t, e2)
	set(false)
	var gotRowid, gotChanges int64
	require.NoError(t, s.QueryRowContext(background, "SELECT last_insert_rowid(), changes()").Scan(&gotRowid, &gotChanges))
	t.Logf("mattn: %d %d; batch: %d %d", wantRowid, wantChanges, gotRowid, gotChanges)
	require.Equal(t, [2]int64{wantRowid, wantChanges}, [2]int64{gotRowid, gotChanges})
}

var (
	registerRefuse sync.Once
	batchRefusing  atomic.Bool
)
var batchLedgerQuery = ""
