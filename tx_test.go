//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// TestWriteTransactionRunsEverythingOnTheWriter checks that a default transaction takes the
// writer and that its reads run there too: they see its own uncommitted writes.
func TestWriteTransactionRunsEverythingOnTheWriter(t *testing.T) {
	for _, level := range []sql.IsolationLevel{sql.LevelDefault, sql.LevelSerializable} {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := openDB(t, "")
			mustExec(t, db, "CREATE TABLE t(v INTEGER)")
			tx, err := db.BeginTx(background, &sql.TxOptions{Isolation: level})
			require.NoError(t, err)
			got := routesOf(t, db, func() {
				mustExec(t, tx, "INSERT INTO t VALUES (1)")
				require.EqualValues(t, 1, queryInt(t, tx, "SELECT count(*) FROM t"))
				require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t"), "others read the last commit")
			})
			require.Equal(t, routes{pinned: 2, reader: 1}, got)
			require.NoError(t, tx.Commit())
			require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"))
		})
	}
}

// TestWriteTransactionBeginsImmediate checks that the transaction holds SQLite's write lock
// from its start: another process's connection cannot write meanwhile.
func TestWriteTransactionBeginsImmediate(t *testing.T) {
	db, path := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(v INTEGER)")
	tx, err := db.Begin()
	require.NoError(t, err)
	defer tx.Rollback()

	outside, err := sql.Open("sqlite3", path+"?_busy_timeout=0")
	require.NoError(t, err)
	defer outside.Close()
	_, err = outside.Exec("INSERT INTO t VALUES (1)")
	var e sqlite3.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, sqlite3.ErrBusy, e.Code, "BEGIN IMMEDIATE took the write lock")
}

// TestReadOnlyTransaction checks a read-only transaction: it reads one snapshot, which
// writes committed meanwhile do not change; it does not hold back those writes; and it
// refuses to write.
func TestReadOnlyTransaction(t *testing.T) {
	for _, level := range []sql.IsolationLevel{sql.LevelDefault, sql.LevelSnapshot, sql.LevelSerializable} {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := openDB(t, "_serial_write_wait=30s")
			mustExec(t, db, "CREATE TABLE t(v INTEGER)", "INSERT INTO t VALUES (1)")
			tx, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true, Isolation: level})
			require.NoError(t, err)
			defer tx.Rollback()

			mustExec(t, db, "INSERT INTO t VALUES (2)")
			mustExec(t, db, "CREATE TABLE other(x)")
			wtx, err := db.Begin()
			require.NoError(t, err, "the read-only transaction does not hold the writer")
			mustExec(t, wtx, "INSERT INTO t VALUES (3)")
			require.NoError(t, wtx.Commit())

			got := routesOf(t, db, func() {
				require.EqualValues(t, 1, queryInt(t, tx, "SELECT count(*) FROM t"), "the snapshot is the one at BeginTx")
				require.EqualValues(t, 0, queryInt(t, tx, "SELECT count(*) FROM sqlite_schema WHERE name = 'other'"))
			})
			require.Equal(t, routes{pinned: 2}, got)
			require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM t"))

			_, err = tx.Exec("INSERT INTO t VALUES (4)")
			var e sqlite3.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, sqlite3.ErrReadonly, e.Code)
			require.NoError(t, tx.Commit())
			require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM t"))
		})
	}
}

// TestUnsupportedIsolationLevelsAreRefused checks that BeginTx refuses the levels it cannot
// honour, with an error that names the level.
func TestUnsupportedIsolationLevelsAreRefused(t *testing.T) {
	db, _ := openDB(t, "")
	for _, tc := range []struct {
		level    sql.IsolationLevel
		readOnly bool
	}{
		{sql.LevelReadUncommitted, false}, {sql.LevelReadCommitted, false}, {sql.LevelWriteCommitted, false},
		{sql.LevelRepeatableRead, false}, {sql.LevelSnapshot, false}, {sql.LevelLinearizable, false},
		{sql.LevelReadUncommitted, true}, {sql.LevelLinearizable, true},
	} {
		_, err := db.BeginTx(background, &sql.TxOptions{Isolation: tc.level, ReadOnly: tc.readOnly})
		var e *IsolationLevelError
		require.ErrorAs(t, err, &e, "%v read-only=%v", tc.level, tc.readOnly)
		require.Contains(t, err.Error(), tc.level.String())
	}
	require.Zero(t, stats(t, db).WriterQueueDepth)
	mustExec(t, db, "CREATE TABLE t(v)") // the writer is free
}

// TestContextEndRollsBackTheTransaction checks that a transaction whose context ends is
// rolled back and frees the writer for the next unit.
func TestContextEndRollsBackTheTransaction(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/c.db"})
	mustExec(t, db, "CREATE TABLE t(v TEXT)")
	events := queued(t, cn)
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t VALUES ('cancelled')")

	done := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO t VALUES ('next')")
		done <- err
	}()
	receive(t, events)
	cancel()
	require.NoError(t, receive(t, done), "the writer was freed")
	require.ErrorIs(t, tx.Commit(), sql.ErrTxDone)

	var v string
	require.NoError(t, db.QueryRow("SELECT group_concat(v) FROM t").Scan(&v))
	require.Equal(t, "next", v)
}

// TestCommitFailureRollsBack checks that a COMMIT SQLite refuses (a deferred foreign key
// violation) still ends the transaction and frees the writer, as mattn's Commit does.
func TestCommitFailureRollsBack(t *testing.T) {
	db, _ := openDB(t, "_fk=1")
	mustExec(t, db, "CREATE TABLE p(id INTEGER PRIMARY KEY)",
		"CREATE TABLE c(p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)")
	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO c VALUES (42)")
	err = tx.Commit()
	var e sqlite3.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, sqlite3.ErrConstraint, e.Code)
	require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM c"))
	mustExec(t, db, "INSERT INTO p VALUES (1)")
}

// TestSessionResetterAndValidator checks the two interfaces database/sql relies on to keep
// a connection after a context ended a transaction.
func TestSessionResetterAndValidator(t *testing.T) {
	_, cn := openConnector(t, &Config{DSN: t.TempDir() + "/r.db"})
	dc, err := cn.Connect(background)
	require.NoError(t, err)
	c := dc.(*conn)
	require.True(t, c.IsValid())

	_, err = c.ExecContext(background, "CREATE TEMP TABLE mine(x)", nil)
	require.NoError(t, err)
	require.NotNil(t, c.session, "a temp table gives the session a connection of its own")
	require.NoError(t, c.ResetSession(background))
	require.NotNil(t, c.session, "the next user of the connection finds its temp table, as on one connection")
	_, err = c.ExecContext(background, "DROP TABLE mine", nil)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Zero(t, cn.Stats().SessionConnsOpen)

	dc2, err := cn.Connect(background)
	require.NoError(t, err)
	c = dc2.(*conn)
	_, err = c.ExecContext(background, "BEGIN", nil)
	require.NoError(t, err)
	require.NoError(t, c.ResetSession(background))
	require.True(t, c.sqlTx, "a transaction begun in SQL survives, as on one connection")
	_, err = c.ExecContext(background, "ROLLBACK", nil)
	require.NoError(t, err)
	require.False(t, c.holding)

	require.NoError(t, cn.Close())
	require.False(t, c.IsValid())
	require.ErrorIs(t, c.ResetSession(background), driver.ErrBadConn)
	require.NoError(t, c.Close())
}

// TestReadOnlyTransactionInsideATransactionBegunInSQL checks BeginTx with ReadOnly on a
// session that began a transaction in SQL: it fails with SQLite's own error, as on one
// plain mattn connection, instead of waiting for the session's own hold of the writer (no
// WAL) or reading a snapshot that misses the session's writes (WAL).
func TestReadOnlyTransactionInsideATransactionBegunInSQL(t *testing.T) {
	plain, err := sql.Open("sqlite3", t.TempDir()+"/plain.db")
	require.NoError(t, err)
	defer plain.Close()
	pc := session(t, plain)
	mustExec(t, pc, "BEGIN")
	_, want := pc.BeginTx(background, &sql.TxOptions{ReadOnly: true})
	require.Error(t, want)
	mustExec(t, pc, "ROLLBACK")

	for _, dsn := range []string{":memory:", t.TempDir() + "/w.db"} {
		db := openMemory(t, dsn)
		mustExec(t, db, "CREATE TABLE t(x)")
		c, err := db.Conn(background)
		require.NoError(t, err)
		mustExec(t, c, "BEGIN", "INSERT INTO t VALUES (1)")
		ctx, cancel := context.WithTimeout(background, 30*time.Second) // only turns a hang into a failure
		_, err = c.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		cancel()
		var e sqlite3.Error
		require.ErrorAs(t, err, &e, dsn)
		require.Equal(t, want.Error(), err.Error(), dsn)
		require.EqualValues(t, 1, queryInt(t, c, "SELECT count(*) FROM t"), "the transaction begun in SQL goes on")
		mustExec(t, c, "COMMIT")
		require.NoError(t, c.Close())
		require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"))
	}
}

// TestReadOnlyTransactionOnASessionConnection checks a read-only transaction of a session
// that has a connection of its own, which, unlike a reader, could write: its writes are
// refused with SQLite's read-only error, also after another session committed, and the
// connection writes again once the transaction ended.
func TestReadOnlyTransactionOnASessionConnection(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
	c := session(t, db)
	mustExec(t, c, "CREATE TEMP TABLE scratch(x)") // a connection of its own

	tx, err := c.BeginTx(background, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	defer tx.Rollback()
	for _, other := range []string{"", "INSERT INTO t(v) VALUES ('another session')"} {
		if other != "" {
			mustExec(t, db, other)
		}
		_, err = tx.Exec("INSERT INTO t(v) VALUES ('from a read-only transaction')")
		var e sqlite3.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, sqlite3.ErrReadonly, e.Code)
	}
	require.EqualValues(t, 0, queryInt(t, tx, "SELECT count(*) FROM t"), "its snapshot")
	require.NoError(t, tx.Commit())
	require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"))

	mustExec(t, c, "INSERT INTO t(v) VALUES ('after')", "INSERT INTO scratch VALUES (1)")
	require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t"))
}

// TestTransactionEndedBySQLite checks a write transaction that SQLite rolls back by itself
// after a statement of it fails (here an interrupted write; OR ROLLBACK and a full disk do
// the same): its later statements fail with ErrTxAborted instead of running in autocommit,
// Commit fails, nothing of it is applied, and the writer is free.
func TestTransactionEndedBySQLite(t *testing.T) {
	var cancel context.CancelFunc
	cancelNow := func() int64 { cancel(); return 1 }
	db, _ := openConnector(t, &Config{DSN: t.TempDir() + "/x.db", Driver: driverWithFunc("cancel_now", cancelNow)})
	mustExec(t, db, "CREATE TABLE t(v)")
	for _, tc := range []struct {
		name      string
		statement string
		cancels   bool
	}{
		{"interrupted", "INSERT INTO t SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT cancel_now() UNION ALL SELECT x + 1 FROM c) SELECT x FROM c)", true},
		{"OR ROLLBACK", "INSERT OR ROLLBACK INTO t(rowid, v) VALUES (1, 'conflict')", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustExec(t, db, "DELETE FROM t", "INSERT INTO t(rowid, v) VALUES (1, 'before')")
			tx, err := db.Begin()
			require.NoError(t, err)
			defer tx.Rollback()
			mustExec(t, tx, "INSERT INTO t VALUES ('first')")
			ctx := background
			if tc.cancels {
				ctx, cancel = context.WithCancel(background)
				defer cancel()
			}
			_, err = tx.ExecContext(ctx, tc.statement)
			require.Error(t, err)
			_, err = tx.Exec("INSERT INTO t VALUES ('after')")
			require.ErrorIs(t, err, ErrTxAborted)
			require.ErrorIs(t, tx.Commit(), ErrTxAborted)
			require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"), "only the row from before")
			mustExec(t, db, "INSERT INTO t VALUES ('the writer is free')")
		})
	}
}

// TestReadOnlyTransactionBesideFailingWriterRows checks a read-only transaction begun on a
// session whose rows of a statement on the writer are still open: when those rows fail, the
// read-only transaction, which runs on a reader, is not affected.
func TestReadOnlyTransactionBesideFailingWriterRows(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(v INTEGER)", "INSERT INTO t VALUES (1)")
	c := session(t, db)
	rows, err := c.QueryContext(background, // on the writer; overflows at its second row
		"SELECT last_insert_rowid() + CASE WHEN x = 2 THEN abs(-9223372036854775807 - 1) ELSE 0 END FROM (SELECT 1 AS x UNION ALL SELECT 2)")
	require.NoError(t, err)
	tx, err := c.BeginTx(background, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	defer tx.Rollback()
	for rows.Next() {
	}
	require.ErrorContains(t, rows.Err(), "integer overflow")
	require.NoError(t, rows.Close())
	require.EqualValues(t, 1, queryInt(t, tx, "SELECT count(*) FROM t"))
	require.NoError(t, tx.Commit())
}
