package conformance

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	sqliteserial "github.com/sqlite-serial/sqlite-serial"
	"github.com/stretchr/testify/require"
)

// The differences from plain mattn/go-sqlite3 that the README documents, each shown here
// against both drivers.

func TestDifferenceFileIsSwitchedToWAL(t *testing.T) {
	var plain, serial string
	require.NoError(t, openTarget(t, "sqlite3").QueryRow("PRAGMA journal_mode").Scan(&plain))
	require.NoError(t, openTarget(t, "sqlite-serial").QueryRow("PRAGMA journal_mode").Scan(&serial))
	require.Equal(t, "delete", plain)
	require.Equal(t, "wal", serial)

	require.NoError(t, openTarget(t, "sqlite-serial", "_journal_mode=TRUNCATE").QueryRow("PRAGMA journal_mode").Scan(&serial))
	require.Equal(t, "truncate", serial, "a journal mode the DSN chooses is kept")
}

// TestDifferenceIsolationLevelsAreRefused shows that every isolation level sqlite-serial
// cannot honour is refused with an *IsolationLevelError naming it, where mattn accepts and
// ignores every level, and that the levels it honours are accepted.
func TestDifferenceIsolationLevelsAreRefused(t *testing.T) {
	var refused []sql.TxOptions
	for _, level := range []sql.IsolationLevel{sql.LevelReadUncommitted, sql.LevelReadCommitted,
		sql.LevelWriteCommitted, sql.LevelRepeatableRead, sql.LevelLinearizable} {
		refused = append(refused, sql.TxOptions{Isolation: level}, sql.TxOptions{Isolation: level, ReadOnly: true})
	}
	refused = append(refused, sql.TxOptions{Isolation: sql.LevelSnapshot}) // a snapshot that writes
	accepted := []sql.TxOptions{{}, {Isolation: sql.LevelSerializable}, {ReadOnly: true},
		{Isolation: sql.LevelSnapshot, ReadOnly: true}, {Isolation: sql.LevelSerializable, ReadOnly: true}}

	ctx := context.Background()
	plain := openTarget(t, "sqlite3")
	for _, opts := range append(refused, accepted...) {
		tx, err := plain.BeginTx(ctx, &opts)
		require.NoError(t, err, "mattn ignores %v (read-only %v)", opts.Isolation, opts.ReadOnly)
		require.NoError(t, tx.Rollback())
	}

	serial := openTarget(t, "sqlite-serial")
	for _, opts := range refused {
		_, err := serial.BeginTx(ctx, &opts)
		var e *sqliteserial.IsolationLevelError
		require.ErrorAs(t, err, &e, "%v (read-only %v)", opts.Isolation, opts.ReadOnly)
		require.Equal(t, opts.Isolation, e.Level)
		require.Equal(t, opts.ReadOnly, e.ReadOnly)
	}
	for _, opts := range accepted {
		tx, err := serial.BeginTx(ctx, &opts)
		require.NoError(t, err, "%v (read-only %v)", opts.Isolation, opts.ReadOnly)
		require.NoError(t, tx.Rollback())
	}
}

func TestDifferenceReadOnlyIsHonoured(t *testing.T) {
	for driver, refused := range map[string]bool{"sqlite3": false, "sqlite-serial": true} {
		db := openTarget(t, driver)
		_, err := db.Exec("CREATE TABLE t(v)")
		require.NoError(t, err)
		tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		_, err = tx.Exec("INSERT INTO t VALUES (1)")
		if refused {
			var e sqlite3.Error
			require.ErrorAs(t, err, &e, driver)
			require.Equal(t, sqlite3.ErrReadonly, e.Code)
		} else {
			require.NoError(t, err, "mattn ignores ReadOnly")
		}
		require.NoError(t, tx.Rollback())
	}
}

func TestDifferenceSharedCacheMemoryIsPrivate(t *testing.T) {
	const dsn = "file:conformance-shared?mode=memory&cache=shared"
	for driver, shared := range map[string]bool{"sqlite3": true, "sqlite-serial": false} {
		a, err := sql.Open(driver, dsn)
		require.NoError(t, err)
		b, err := sql.Open(driver, dsn)
		require.NoError(t, err)
		_, err = a.Exec("CREATE TABLE seen_by_b(v)")
		require.NoError(t, err)
		_, err = b.Exec("INSERT INTO seen_by_b VALUES (1)")
		if shared {
			require.NoError(t, err, driver)
		} else {
			require.ErrorContains(t, err, "no such table", driver)
		}
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
	}
}

// outside opens the database file at path through plain mattn/go-sqlite3, as another
// process would, with no busy timeout: a lock held on the file fails at once with
// SQLITE_BUSY.
func outside(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", path+"?_busy_timeout=0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// requireBusy requires err to be SQLite's SQLITE_BUSY.
func requireBusy(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	var e sqlite3.Error
	require.ErrorAs(t, err, &e, msgAndArgs...)
	require.Equal(t, sqlite3.ErrBusy, e.Code, msgAndArgs...)
}

// TestDifferenceTransactionsBeginImmediate shows that a transaction of sqlite-serial holds
// the write lock from db.Begin() on, before its first statement, whatever _txlock says
// (deferred included), where mattn's deferred BEGIN takes no lock until the transaction
// writes. mattn with _txlock=immediate shows that the check sees the lock.
func TestDifferenceTransactionsBeginImmediate(t *testing.T) {
	for _, c := range []struct {
		driver, txlock string
		locks          bool
	}{
		{"sqlite3", "", false},
		{"sqlite3", "_txlock=deferred", false},
		{"sqlite3", "_txlock=immediate", true},
		{"sqlite-serial", "", true},
		{"sqlite-serial", "_txlock=deferred", true},
		{"sqlite-serial", "_txlock=immediate", true},
	} {
		name := c.driver + "?" + c.txlock
		path := filepath.Join(t.TempDir(), "i.db")
		db, err := sql.Open(c.driver, path+"?_journal_mode=WAL&"+c.txlock)
		require.NoError(t, err)
		_, err = db.Exec("CREATE TABLE t(v)")
		require.NoError(t, err)
		tx, err := db.Begin()
		require.NoError(t, err)
		_, err = outside(t, path).Exec("INSERT INTO t VALUES (1)")
		if c.locks {
			requireBusy(t, err, "%s: BEGIN IMMEDIATE holds the write lock", name)
		} else {
			require.NoError(t, err, "%s: a deferred BEGIN takes no lock until it writes", name)
		}
		require.NoError(t, tx.Rollback())
		require.NoError(t, db.Close())
	}
}

// TestDifferenceExclusiveTransactionsAreHonoured shows that _txlock=exclusive gives BEGIN
// EXCLUSIVE through sqlite-serial, as through mattn. With a rollback journal, EXCLUSIVE takes
// the file's exclusive lock at BEGIN, so another connection can no longer even read, before
// the transaction's first write as after it; the default BEGIN IMMEDIATE takes only the
// reserved lock, which lets others read the last committed state until COMMIT.
func TestDifferenceExclusiveTransactionsAreHonoured(t *testing.T) {
	for _, c := range []struct {
		driver, txlock string
		exclusive      bool
	}{
		{"sqlite3", "_txlock=immediate", false},
		{"sqlite3", "_txlock=exclusive", true},
		{"sqlite-serial", "", false},
		{"sqlite-serial", "_txlock=exclusive", true},
	} {
		name := c.driver + "?" + c.txlock
		path := filepath.Join(t.TempDir(), "x.db")
		db, err := sql.Open(c.driver, path+"?_journal_mode=DELETE&"+c.txlock)
		require.NoError(t, err)
		_, err = db.Exec("CREATE TABLE t(v); INSERT INTO t VALUES (1)")
		require.NoError(t, err)
		other := outside(t, path)
		readOutside := func(when string) {
			var n int
			err := other.QueryRow("SELECT count(*) FROM t").Scan(&n)
			if c.exclusive {
				requireBusy(t, err, "%s: EXCLUSIVE keeps readers out %s", name, when)
			} else {
				require.NoError(t, err, "%s: IMMEDIATE lets others read %s", name, when)
				require.Equal(t, 1, n, "%s: the last committed state", name)
			}
		}

		tx, err := db.Begin()
		require.NoError(t, err)
		readOutside("before the first write")
		_, err = tx.Exec("INSERT INTO t VALUES (2)")
		require.NoError(t, err)
		readOutside("after the first write")
		_, err = other.Exec("INSERT INTO t VALUES (3)")
		requireBusy(t, err, "%s: no one else writes either way", name)
		require.NoError(t, tx.Commit())

		var n int
		require.NoError(t, other.QueryRow("SELECT count(*) FROM t").Scan(&n), name)
		require.Equal(t, 2, n, name)
		require.NoError(t, db.Close())
	}
}

// TestDifferenceFileStaysInWALAfterClose shows that the switch to WAL outlives the *sql.DB:
// WAL is a property of the file, which plain mattn then opens in WAL too.
func TestDifferenceFileStaysInWALAfterClose(t *testing.T) {
	for driver, want := range map[string]string{"sqlite3": "delete", "sqlite-serial": "wal"} {
		path := filepath.Join(t.TempDir(), "w.db")
		db, err := sql.Open(driver, path)
		require.NoError(t, err)
		_, err = db.Exec("CREATE TABLE t(v)")
		require.NoError(t, err)
		require.NoError(t, db.Close())

		again, err := sql.Open("sqlite3", path)
		require.NoError(t, err)
		var mode string
		require.NoError(t, again.QueryRow("PRAGMA journal_mode").Scan(&mode))
		require.Equal(t, want, mode, driver)
		require.NoError(t, again.Close())
	}
}

// TestDifferenceReadsWaitForTheWriterWithoutWAL shows that on a database without WAL a read
// through the *sql.DB waits while another goroutine's write transaction is open, and then
// sees what it committed, where mattn's read returns at once with the last committed state.
//
// The read is known to have started once the driver's Stats count it as routed to a reader
// (its route was judged beforehand, so nothing but the reader is left to take); from then
// until Commit it must not return. Nothing here waits on time.
func TestDifferenceReadsWaitForTheWriterWithoutWAL(t *testing.T) {
	const count = "SELECT count(*) FROM t"
	type result struct {
		n   int
		err error
	}
	for driver, waits := range map[string]bool{"sqlite3": false, "sqlite-serial": true} {
		dsn := filepath.Join(t.TempDir(), "d.db") + "?_journal_mode=DELETE"
		var db *sql.DB
		var routed func() uint64 // reads the driver routed to a reader so far
		if waits {
			cn, err := sqliteserial.NewConnector(&sqliteserial.Config{DSN: dsn})
			require.NoError(t, err)
			db = sql.OpenDB(cn)
			routed = func() uint64 { return cn.Stats().ReadRoutes }
		} else {
			var err error
			db, err = sql.Open(driver, dsn)
			require.NoError(t, err)
		}
		_, err := db.Exec("CREATE TABLE t(v)")
		require.NoError(t, err)
		var n int
		require.NoError(t, db.QueryRow(count).Scan(&n))

		tx, err := db.Begin()
		require.NoError(t, err)
		_, err = tx.Exec("INSERT INTO t VALUES (1)")
		require.NoError(t, err)
		var before uint64
		if waits {
			before = routed()
		}
		read := make(chan result, 1)
		go func() {
			var r result
			r.err = db.QueryRow(count).Scan(&r.n)
			read <- r
		}()

		if !waits {
			r := <-read
			require.NoError(t, r.err, driver)
			require.Equal(t, 0, r.n, "%s: the read returned before Commit, with the last committed state", driver)
			require.NoError(t, tx.Commit())
			require.NoError(t, db.Close())
			continue
		}
		for routed() == before {
			select {
			case r := <-read:
				t.Fatalf("%s: the read returned while the transaction was open: %+v", driver, r)
			default:
				runtime.Gosched()
			}
		}
		select {
		case r := <-read:
			t.Fatalf("%s: the read returned while the transaction was open: %+v", driver, r)
		default:
		}
		require.NoError(t, tx.Commit())
		r := <-read
		require.NoError(t, r.err, driver)
		require.Equal(t, 1, r.n, "%s: the read waited for Commit and sees its row", driver)
		require.NoError(t, db.Close())
	}
}

func TestDifferencePragmaSettingReachesEveryConnection(t *testing.T) {
	db := openTarget(t, "sqlite-serial", "_serial_readers=4")
	_, err := db.Exec("PRAGMA case_sensitive_like = ON")
	require.NoError(t, err)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			var match bool
			err := db.QueryRow("SELECT 'A' LIKE 'a'").Scan(&match)
			if err == nil && match {
				err = sql.ErrNoRows // any error: a connection without the setting answered
			}
			errs <- err
		}()
	}
	for range 16 {
		require.NoError(t, <-errs)
	}
}

func TestDifferenceTotalChangesCountsEverySessionOnTheWriter(t *testing.T) {
	for driver, want := range map[string]int64{"sqlite3": 1, "sqlite-serial": 2} {
		db := openTarget(t, driver, "_journal_mode=WAL")
		_, err := db.Exec("CREATE TABLE t(v)")
		require.NoError(t, err)
		a, err := db.Conn(context.Background())
		require.NoError(t, err)
		b, err := db.Conn(context.Background())
		require.NoError(t, err)
		for _, c := range []*sql.Conn{a, b} {
			_, err := c.ExecContext(context.Background(), "INSERT INTO t VALUES (1)")
			require.NoError(t, err)
		}
		var total int64
		require.NoError(t, b.QueryRowContext(context.Background(), "SELECT total_changes()").Scan(&total))
		require.Equal(t, want, total, driver)
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
	}
}

// TestDifferenceProbeAnswersTheConnectorsNumber runs the probe query on both drivers:
// mattn answers 0, as SQLite does, and the driver the number of its connector.
func TestDifferenceProbeAnswersTheConnectorsNumber(t *testing.T) {
	const probe = "SELECT 0 /* sqlite-serial: connector */"
	for driver, isMattn := range map[string]bool{"sqlite3": true, "sqlite-serial": false} {
		var n int64
		require.NoError(t, openTarget(t, driver).QueryRow(probe).Scan(&n))
		if isMattn {
			require.Zero(t, n, driver)
		} else {
			require.Positive(t, n, driver)
		}
	}
	var n int64
	require.NoError(t, openTarget(t, "sqlite-serial").QueryRow("SELECT 0 /* another comment */").Scan(&n))
	require.Zero(t, n, "any other text is SQLite's")
}

// TestDifferenceRawHandsTheDriversConnection shows that sql.Conn.Raw through sqlite-serial
// hands the driver's own connection, not mattn's, and that WithWriter, the documented way to
// mattn's connection, hands a working *sqlite3.SQLiteConn: the backup API copies the
// database through it into a file that plain mattn then reads.
func TestDifferenceRawHandsTheDriversConnection(t *testing.T) {
	ctx := context.Background()
	for driver, isMattn := range map[string]bool{"sqlite3": true, "sqlite-serial": false} {
		c, err := openTarget(t, driver).Conn(ctx)
		require.NoError(t, err)
		require.NoError(t, c.Raw(func(dc any) error {
			_, ok := dc.(*sqlite3.SQLiteConn)
			require.Equal(t, isMattn, ok, driver)
			return nil
		}))
		require.NoError(t, c.Close())
	}

	db := openTarget(t, "sqlite-serial")
	_, err := db.Exec("CREATE TABLE t(v); INSERT INTO t VALUES ('a'), ('b'), ('c')")
	require.NoError(t, err)
	backupPath := filepath.Join(t.TempDir(), "backup.db")
	dest, err := sql.Open("sqlite3", backupPath)
	require.NoError(t, err)
	destConn, err := dest.Conn(ctx)
	require.NoError(t, err)
	err = sqliteserial.WithWriter(ctx, db, func(src *sqlite3.SQLiteConn) error {
		return destConn.Raw(func(dc any) error {
			b, err := dc.(*sqlite3.SQLiteConn).Backup("main", src, "main")
			if err != nil {
				return err
			}
			done, err := b.Step(-1)
			if finishErr := b.Finish(); err == nil {
				err = finishErr
			}
			if err == nil && !done {
				err = errors.New("the backup did not finish in one step")
			}
			return err
		})
	})
	require.NoError(t, err)
	require.NoError(t, destConn.Close())
	require.NoError(t, dest.Close())

	back, err := sql.Open("sqlite3", backupPath)
	require.NoError(t, err)
	defer back.Close()
	require.Equal(t, []string{"v", `string("a")`, `string("b")`, `string("c")`}, queryAll(back, "SELECT v FROM t ORDER BY v"))
}

// TestDifferenceRowsOutliveASchemaRollback shows that rows a session left open go on through
// sqlite-serial when the session's transaction changed the schema and rolled back, where on
// mattn's one connection SQLite aborts them with SQLITE_ABORT_ROLLBACK; a transaction that
// rolls back without a schema change leaves them running on both.
func TestDifferenceRowsOutliveASchemaRollback(t *testing.T) {
	ctx := context.Background()
	for _, schemaChange := range []bool{false, true} {
		for driver, goesOn := range map[string]bool{"sqlite3": !schemaChange, "sqlite-serial": true} {
			db := openTarget(t, driver, "_journal_mode=WAL")
			_, err := db.Exec("CREATE TABLE t(v); INSERT INTO t VALUES (1), (2), (3); CREATE TABLE u(a)")
			require.NoError(t, err)
			c, err := db.Conn(ctx)
			require.NoError(t, err)
			rows, err := c.QueryContext(ctx, "SELECT v FROM t ORDER BY rowid") // a scan of the table, not a sorter
			require.NoError(t, err)
			require.True(t, rows.Next())
			tx, err := c.BeginTx(ctx, nil)
			require.NoError(t, err)
			change := "INSERT INTO u VALUES (1)"
			if schemaChange {
				change = "ALTER TABLE u ADD COLUMN b INTEGER"
			}
			_, err = tx.Exec(change)
			require.NoError(t, err)
			require.NoError(t, tx.Rollback())

			var got []int
			for rows.Next() {
				var v int
				require.NoError(t, rows.Scan(&v))
				got = append(got, v)
			}
			if goesOn {
				require.NoError(t, rows.Err(), "%s, schema change %v", driver, schemaChange)
				require.Equal(t, []int{2, 3}, got, "%s, schema change %v", driver, schemaChange)
			} else {
				var se sqlite3.Error
				require.ErrorAs(t, rows.Err(), &se, driver)
				require.Equal(t, sqlite3.ErrAbortRollback, se.ExtendedCode, driver)
				require.Empty(t, got, driver)
			}
			require.NoError(t, rows.Close())
			require.NoError(t, c.Close())
		}
	}
}
