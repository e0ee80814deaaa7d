//go:build cgo

package sqliteserial

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// The tests of this file check that the driver adds no wait that plain mattn/go-sqlite3
// does not have, and surfaces what mattn surfaces.

// TestPingOpensAReadOnlyDatabase: Ping on a read-only database that cannot be opened gives
// SQLite's own error, with its system errno, as mattn's Ping does.
func TestPingOpensAReadOnlyDatabase(t *testing.T) {
	missing := "file:" + filepath.Join(t.TempDir(), "missing.db") + "?mode=ro"
	var errs [2]sqlite3.Error
	for i, name := range []string{"sqlite3", "sqlite-serial"} {
		db, err := sql.Open(name, missing)
		require.NoError(t, err)
		require.ErrorAs(t, db.Ping(), &errs[i], name)
		require.NoError(t, db.Close())
	}
	require.Equal(t, sqlite3.ErrCantOpen, errs[1].Code)
	require.Equal(t, errs[0].Code, errs[1].Code)
	require.Equal(t, errs[0].ExtendedCode, errs[1].ExtendedCode)
	require.Equal(t, errs[0].SystemErrno, errs[1].SystemErrno)
	require.NotZero(t, errs[1].SystemErrno)
}

// TestRowsOfReadsOnTheWriterDoNotHoldIt: rows of statements that only read but run on the
// writer (a read of last_insert_rowid(), a script ending in a SELECT) do not keep other
// sessions' writes waiting while the caller loops over them, as mattn's do not. Without
// that, the first write inside the loop gives up after the write-wait limit.
func TestRowsOfReadsOnTheWriterDoNotHoldIt(t *testing.T) {
	db, _ := openDB(t, "_serial_write_wait=500ms")
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "INSERT INTO t(v) VALUES (1), (2), (3)")
	for _, q := range []string{
		"SELECT id, last_insert_rowid() FROM t",
		"UPDATE t SET v = v + 1 WHERE id = 1; SELECT id FROM t",
		"SELECT id, changes() FROM t",
	} {
		rows, err := db.Query(q)
		require.NoError(t, err, q)
		n := 0
		for rows.Next() {
			n++
			_, err := db.Exec("INSERT INTO t(v) VALUES ('inside the loop')")
			require.NoError(t, err, q)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		require.GreaterOrEqual(t, n, 3, q)
	}
}

// TestInMemoryWriteWhileRowsAreOpen: on an in-memory database (no WAL), rows left open do
// not keep a write waiting (mattn's TestNilAndEmptyBytes shape), and a session never sees
// another's uncommitted transaction.
func TestInMemoryWriteWhileRowsAreOpen(t *testing.T) {
	for _, dsn := range []string{":memory:?_serial_write_wait=500ms", "file:" + filepath.Join(t.TempDir(), "j.db") + "?_journal_mode=DELETE&_serial_write_wait=500ms"} {
		db, err := sql.Open("sqlite-serial", dsn)
		require.NoError(t, err)
		mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "INSERT INTO t(v) VALUES (1), (2)")
		rows, err := db.Query("SELECT id FROM t")
		require.NoError(t, err)
		require.True(t, rows.Next())
		_, err = db.Exec("INSERT INTO t(v) VALUES (3)")
		require.NoError(t, err, dsn)

		tx, err := db.Begin()
		require.NoError(t, err)
		_, err = tx.Exec("INSERT INTO t(v) VALUES ('uncommitted')")
		require.NoError(t, err)
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
		require.NoError(t, tx.Rollback())
		require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM t"), dsn)
		require.NoError(t, db.Close())
	}
}

// TestBurstWithinTheOpenFilesLimit: 5000 goroutines of three mixed operations each, with the
// common soft limit of 1024 open files, end without an error: readers beyond
// _serial_readers stop at _serial_readers_max (by default a sixth of that limit) and the
// rest wait their turn. Plain mattn's unbounded pool can run out of file descriptors here.
func TestBurstWithinTheOpenFilesLimit(t *testing.T) {
	var was syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &was))
	lowered := was
	lowered.Cur = min(was.Cur, 1024)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered))
	defer func() { require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &was)) }()

	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "burst.db")})
	require.LessOrEqual(t, cn.cfg.ReadersMax, 1024/6+1)
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, g INTEGER)")
	const goroutines = 5000
	var g errgroup.Group
	for i := range goroutines {
		g.Go(func() error {
			if _, err := db.Exec("INSERT INTO t(g) VALUES (?)", i); err != nil {
				return err
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM t WHERE g <= ?", i).Scan(&n); err != nil {
				return err
			}
			tx, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				return err
			}
			if err := tx.QueryRow("SELECT count(*) FROM t WHERE g = ?", i).Scan(&n); err != nil {
				tx.Rollback()
				return err
			}
			if n != 1 {
				tx.Rollback()
				return fmt.Errorf("goroutine %d: %d rows of its own", i, n)
			}
			return tx.Commit()
		})
	}
	require.NoError(t, g.Wait())
	require.EqualValues(t, goroutines, queryInt(t, db, "SELECT count(*) FROM t"))
	require.LessOrEqual(t, cn.Stats().ReadersOpen, cn.cfg.ReadersMax)
}

// TestExclusiveLockingMode runs mattn's TestWAL shape, PRAGMA locking_mode = EXCLUSIVE
// through the *sql.DB (and the same mode from the DSN) followed by writes, a transaction
// and reads, with the same results as plain mattn: in exclusive locking mode only one
// connection can use the file, so the driver runs everything on the writer.
func TestExclusiveLockingMode(t *testing.T) {
	run := func(t *testing.T, name, dsn string, pragma bool) []int64 {
		db, err := sql.Open(name, dsn)
		require.NoError(t, err)
		defer db.Close()
		mustExec(t, db, "PRAGMA journal_mode = WAL")
		if pragma {
			mustExec(t, db, "PRAGMA locking_mode = EXCLUSIVE")
		}
		mustExec(t, db, "CREATE TABLE test(id INTEGER PRIMARY KEY, user TEXT NOT NULL)", "INSERT INTO test(user) VALUES ('a')")
		tx, err := db.Begin()
		require.NoError(t, err)
		s, err := tx.Prepare("INSERT INTO test(user) VALUES (?)")
		require.NoError(t, err)
		var out []int64
		out = append(out, queryInt(t, tx, "SELECT count(*) FROM test"))
		_, err = s.Exec("b")
		require.NoError(t, err)
		require.NoError(t, s.Close())
		require.NoError(t, tx.Commit())
		out = append(out, queryInt(t, db, "SELECT count(*) FROM test"))
		ro, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		out = append(out, queryInt(t, ro, "SELECT count(*) FROM test"))
		require.NoError(t, ro.Commit())
		rows, err := db.Query("SELECT id FROM test ORDER BY id")
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			out = append(out, id)
		}
		require.NoError(t, rows.Close())
		return out
	}
	for _, pragma := range []bool{true, false} {
		query := "?_locking_mode=EXCLUSIVE"
		if pragma {
			query = ""
		}
		dir := t.TempDir()
		mattn := run(t, "sqlite3", filepath.Join(dir, "m.db")+query, pragma)
		driver := run(t, "sqlite-serial", filepath.Join(dir, "d.db")+query, pragma)
		require.Equal(t, mattn, driver, "pragma %v", pragma)
	}
}

// TestExclusiveLockingModeSharesTheWriter: in exclusive locking mode every session runs on
// the writer, so a temp table one session creates is seen by another (a documented
// difference: no second connection can use the file).
func TestExclusiveLockingModeSharesTheWriter(t *testing.T) {
	db, _ := openDB(t, "_locking_mode=EXCLUSIVE")
	mustExec(t, db, "CREATE TABLE t(v)")
	a, b := session(t, db), session(t, db)
	mustExec(t, a, "CREATE TEMP TABLE mine(x)", "INSERT INTO mine VALUES (1)")
	require.EqualValues(t, 1, queryInt(t, b, "SELECT count(*) FROM mine"))
	require.Zero(t, stats(t, db).SessionConnsOpened)
}

// TestCallsWaitingAtCloseGetDatabaseSQLsError: a call through the *sql.DB that waits for the
// writer when Close runs gets database/sql's own "sql: database is closed", as a call made
// after Close does.
func TestCallsWaitingAtCloseGetDatabaseSQLsError(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "w.db")})
	mustExec(t, db, "CREATE TABLE t(v)")
	events := queued(t, cn)
	tx, err := db.Begin()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO t VALUES (1)")
		done <- err
	}()
	receive(t, events)
	require.NoError(t, db.Close())
	err = receive(t, done)
	require.EqualError(t, err, "sql: database is closed")
	_, after := db.Exec("INSERT INTO t VALUES (2)")
	require.EqualError(t, after, err.Error())
	require.NoError(t, tx.Rollback())
}
