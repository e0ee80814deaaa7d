//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeferredWriterScriptPragmaStaysTheSessions opens a file already in WAL mode, whose
// writer is deferred, and runs first a script that begins a transaction and sets a pragma in
// it: the setting stays the session's, as when the writer opens at once.
func TestDeferredWriterScriptPragmaStaysTheSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	setup, err := sql.Open(DriverName, path)
	require.NoError(t, err)
	mustExec(t, setup, "CREATE TABLE t(v)")
	require.NoError(t, setup.Close())

	db, err := sql.Open(DriverName, path)
	require.NoError(t, err)
	defer db.Close()
	a, b := session(t, db), session(t, db)
	mustExec(t, a, "BEGIN; PRAGMA query_only = 1")
	mustExec(t, a, "COMMIT")
	_, err = b.ExecContext(background, "INSERT INTO t VALUES (1)")
	require.NoError(t, err, "another session's write after a's transaction set query_only")
}

// TestDeferredWriterSettingsSavedUnderTheTurn has two sessions of a *sql.DB on a file already
// in WAL mode: one writes first (opening the deferred writer), the other runs a script that
// begins a transaction and sets a pragma; the settings it saves are read under the writer's
// turn (no data race).
func TestDeferredWriterSettingsSavedUnderTheTurn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	setup, err := sql.Open(DriverName, path)
	require.NoError(t, err)
	mustExec(t, setup, "CREATE TABLE t(v)")
	require.NoError(t, setup.Close())
	for range 50 {
		db, err := sql.Open(DriverName, path)
		require.NoError(t, err)
		a, b := session(t, db), session(t, db)
		done := make(chan error, 1)
		go func() {
			_, err := a.ExecContext(background, "INSERT INTO t VALUES (1)")
			done <- err
		}()
		mustExec(t, b, "BEGIN; PRAGMA cache_size = 77", "COMMIT")
		require.NoError(t, <-done)
		a.Close()
		b.Close()
		require.NoError(t, db.Close())
	}
}

// TestDeferredWriterHoldsTheFile lets another process try to switch a WAL file to rollback
// mode after a *sql.DB connected, with its writer deferred: as with mattn's first connection,
// the file is held and the switch fails, and the session then reads with rows open and
// writes, as one mattn connection does.
func TestDeferredWriterHoldsTheFile(t *testing.T) {
	for _, driverName := range []string{"sqlite3", DriverName} {
		t.Run(driverName, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			setup, err := sql.Open("sqlite3", path+"?_journal_mode=WAL")
			require.NoError(t, err)
			mustExec(t, setup, "CREATE TABLE t(v)", "INSERT INTO t VALUES (1)")
			require.NoError(t, setup.Close())

			db, err := sql.Open(driverName, path+"?_busy_timeout=500")
			require.NoError(t, err)
			defer db.Close()
			s := session(t, db)

			other, err := sql.Open("sqlite3", path)
			require.NoError(t, err)
			var mode string
			err = other.QueryRow("PRAGMA journal_mode = DELETE").Scan(&mode)
			t.Logf("other process's switch: %q, %v", mode, err)
			require.NoError(t, other.Close())

			rows, err := s.QueryContext(background, "SELECT v FROM t")
			require.NoError(t, err)
			require.True(t, rows.Next())
			_, werr := s.ExecContext(background, "INSERT INTO t VALUES (2)")
			require.NoError(t, rows.Close())
			require.NoError(t, s.QueryRowContext(background, "PRAGMA journal_mode").Scan(&mode))
			t.Logf("journal mode after: %s", mode)
			require.NoError(t, werr, "a write while the session's rows are open")
		})
	}
}

// TestJudgementInAnOldSnapshotIsNotCached has a session with rows open on a reader (an old
// snapshot) read a view that another session redefined to read last_insert_rowid(): the
// judgement made on the old schema is not cached, so that a later read of the view by a
// third session answers that session's last_insert_rowid(), as on mattn.
func TestJudgementInAnOldSnapshotIsNotCached(t *testing.T) {
	for _, driverName := range []string{"sqlite3", DriverName} {
		t.Run(driverName, func(t *testing.T) {
			db := openWALOn(t, driverName)
			mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "INSERT INTO t(v) VALUES (0)",
				"CREATE VIEW v AS SELECT 0 AS x")
			a, b, c := session(t, db), session(t, db), session(t, db)

			rows, err := b.QueryContext(background, "SELECT v FROM t")
			require.NoError(t, err)
			require.True(t, rows.Next())

			mustExec(t, a, "DROP VIEW v", "CREATE VIEW v AS SELECT last_insert_rowid() AS x")

			// b, in its old snapshot, reads the view: the old one, on either driver.
			require.Equal(t, int64(0), queryInt(t, b, "SELECT x FROM v"))
			require.NoError(t, rows.Close())

			res, err := c.ExecContext(background, "INSERT INTO t(v) VALUES (1)")
			require.NoError(t, err)
			id, _ := res.LastInsertId()
			require.Equal(t, id, queryInt(t, c, "SELECT x FROM v"), "c's last_insert_rowid() through the view")
		})
	}
}

// TestOldSnapshotDoesNotSeeANewTable has a session with rows open read a table another
// session created since: as on one mattn connection, SQLite reports no such table, and the
// driver does not read it elsewhere.
func TestOldSnapshotDoesNotSeeANewTable(t *testing.T) {
	for _, driverName := range []string{"sqlite3", DriverName} {
		t.Run(driverName, func(t *testing.T) {
			db := openWALOn(t, driverName)
			mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (0)")
			a, b := session(t, db), session(t, db)

			rows, err := b.QueryContext(background, "SELECT v FROM t")
			require.NoError(t, err)
			require.True(t, rows.Next())
			mustExec(t, a, "CREATE TABLE u(x)", "INSERT INTO u VALUES (5)")
			var x int64
			err = b.QueryRowContext(background, "SELECT x FROM u").Scan(&x)
			require.NoError(t, rows.Close())
			t.Logf("%s: x=%d err=%v", driverName, x, err)
			require.ErrorContains(t, err, "no such table: u")
		})
	}
}

// TestJudgementAfterASchemaCommitWithRowsOpen redefines, inside a transaction begun in SQL, a
// view that read a constant to one that reads last_insert_rowid(), while another session
// reads the view and so has it judged on the schema of before; the transaction commits with
// rows of it still open on the writer. The other session's next read of the view is judged
// on the committed schema: it answers its own last_insert_rowid(), as on mattn (through the
// driver once the rows give the writer back: a read of a connection's value runs there).
func TestJudgementAfterASchemaCommitWithRowsOpen(t *testing.T) {
	for _, driverName := range []string{"sqlite3", DriverName} {
		t.Run(driverName, func(t *testing.T) {
			db := openWALOn(t, driverName)
			mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "CREATE VIEW v AS SELECT 0 AS x")
			a, c := session(t, db), session(t, db)
			res, err := c.ExecContext(background, "INSERT INTO t(v) VALUES (1)")
			require.NoError(t, err)
			id, _ := res.LastInsertId()

			mustExec(t, a, "BEGIN", "DROP VIEW v", "CREATE VIEW v AS SELECT last_insert_rowid() AS x")
			require.Equal(t, int64(0), queryInt(t, c, "SELECT x FROM v"), "before a's COMMIT")
			rows, err := a.QueryContext(background, "SELECT id FROM t")
			require.NoError(t, err)
			require.True(t, rows.Next())
			mustExec(t, a, "COMMIT")

			var depths <-chan int // nil for mattn, which queues nothing
			if driverName == DriverName {
				cn, err := connectorOf(db)
				require.NoError(t, err)
				depths = queued(t, cn)
			}
			read := make(chan int64, 1)
			go func() {
				var x int64
				if err := c.QueryRowContext(background, "SELECT x FROM v").Scan(&x); err != nil {
					x = -1
				}
				read <- x
			}()
			var got int64
			select {
			case <-depths: // waits for the writer, which a's rows hold
				require.NoError(t, rows.Close())
				got = <-read
			case got = <-read:
				require.NoError(t, rows.Close())
			}
			require.Equal(t, id, got, "after a's COMMIT, c's last_insert_rowid() through the view")
		})
	}
}

// TestTableValuedIntegrityCheckOpensTemp runs the table-valued form of integrity_check, which
// opens the temp database of the connection it runs on: another session's database_list must
// still list what its own connection would.
func TestTableValuedIntegrityCheckOpensTemp(t *testing.T) {
	for _, driverName := range []string{"sqlite3", DriverName} {
		t.Run(driverName, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			dsn := path + "?_journal_mode=WAL"
			if driverName == DriverName {
				dsn += "&_serial_readers=1&_serial_readers_max=1"
			}
			db, err := sql.Open(driverName, dsn)
			require.NoError(t, err)
			defer db.Close()
			mustExec(t, db, "CREATE TABLE t(v)")
			a := session(t, db)
			var ok string
			require.NoError(t, a.QueryRowContext(background, "SELECT * FROM pragma_integrity_check").Scan(&ok))
			b := session(t, db) // a stays open: b is a connection of its own on mattn
			require.Equal(t, int64(1), queryInt(t, b, "SELECT count(*) FROM pragma_database_list"), "b's database_list")
		})
	}
}

// TestPingReportsWriterOnlyDSNErrors opens a file already in WAL mode with an invalid
// writer-only key: Ping reports mattn's error, as when the writer opens at once.
func TestPingReportsWriterOnlyDSNErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	setup, err := sql.Open("sqlite3", path+"?_journal_mode=WAL")
	require.NoError(t, err)
	mustExec(t, setup, "CREATE TABLE t(v)")
	require.NoError(t, setup.Close())
	for _, driverName := range []string{"sqlite3", DriverName} {
		t.Run(driverName, func(t *testing.T) {
			db, err := sql.Open(driverName, path+"?_auto_vacuum=bogus")
			require.NoError(t, err)
			defer db.Close()
			err = db.Ping()
			t.Logf("Ping: %v", err)
			require.ErrorContains(t, err, "Invalid _auto_vacuum")
		})
	}
}

// TestFirstTimeStatementsLeaveNothingOpen runs first-time SELECTs judged on readers on every
// path (rows closed by cancellation, rows left to Close, errors at step, arguments that do not
// fit): nothing stays open after Close.
func TestFirstTimeStatementsLeaveNothingOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	setup, err := sql.Open("sqlite3", path+"?_journal_mode=WAL")
	require.NoError(t, err)
	mustExec(t, setup, "CREATE TABLE t(v)", "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 100) INSERT INTO t SELECT i FROM c")
	require.NoError(t, setup.Close())

	db, err := sql.Open(DriverName, path)
	require.NoError(t, err)
	for i := range 50 {
		ctx, cancel := context.WithCancel(background)
		rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT v, %d FROM t", i))
		require.NoError(t, err)
		require.True(t, rows.Next())
		cancel()
		for rows.Next() {
		}
		rows.Close()
		if r, err := db.Query(fmt.Sprintf("SELECT v FROM t WHERE v = ? AND %d", i), 1, 2); err == nil {
			r.Close()
		}
		if r, err := db.Query(fmt.Sprintf("SELECT v FROM t WHERE v = ? AND %d", i+1000)); err == nil {
			r.Close()
		}
		var x any
		_ = db.QueryRow(fmt.Sprintf("SELECT abs(-9223372036854775807 - v) FROM t WHERE %d", i)).Scan(&x)
		_, _ = db.Exec(fmt.Sprintf("SELECT v FROM t WHERE %d", i+2000))
	}
	require.NoError(t, db.Close())
	require.Equal(t, 0, openFilesOf(t, path))
}

// TestJudgementsDuringClose judges new statements in parallel on classifiers and readers while
// Close runs: no panic, no race, nothing left open.
func TestJudgementsDuringClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	setup, err := sql.Open("sqlite3", path+"?_journal_mode=WAL")
	require.NoError(t, err)
	mustExec(t, setup, "CREATE TABLE t(v)")
	require.NoError(t, setup.Close())
	for round := range 20 {
		db, err := sql.Open(DriverName, path)
		require.NoError(t, err)
		done := make(chan struct{})
		for g := range 8 {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := 0; ; i++ {
					var q string
					if i%2 == 0 {
						q = fmt.Sprintf("PRAGMA table_info(t) -- %d %d %d", round, g, i)
					} else {
						q = fmt.Sprintf("SELECT count(*) FROM t WHERE %d", round*1000000+g*10000+i)
					}
					r, err := db.Query(q)
					if err != nil {
						return
					}
					r.Close()
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * 5 * time.Millisecond)
		require.NoError(t, db.Close())
		for range 8 {
			<-done
		}
		require.Equal(t, 0, openFilesOf(t, path), "round %d", round)
	}
}
