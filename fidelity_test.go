//go:build cgo

package sqliteserial

// Differential regression tests: each runs the same code through plain mattn/go-sqlite3
// ("sqlite3") and through the driver, on real files, and requires the driver to give what
// mattn gives. Where mattn's own behaviour is surprising, the test says so.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// fidelityDBs opens a fresh file through plain mattn with mattnQuery as the DSN's query and
// another through the driver with driverQuery ("" for none). Both are closed when the test
// ends.
func fidelityDBs(t *testing.T, mattnQuery, driverQuery string) (plain, serial *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mattn.db")
	if mattnQuery != "" {
		path += "?" + mattnQuery
	}
	plain, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	t.Cleanup(func() { plain.Close() })
	require.NoError(t, plain.Ping())
	serial, _ = openDB(t, driverQuery)
	return plain, serial
}

// fidelityBoth runs fn on plain mattn (a WAL file) and on the driver (its default: a file
// switched to WAL) and requires the same result.
func fidelityBoth[T any](t *testing.T, fn func(t *testing.T, db *sql.DB) T) {
	t.Helper()
	plain, serial := fidelityDBs(t, "_journal_mode=WAL", "")
	want := fn(t, plain)
	got := fn(t, serial)
	require.Equal(t, want, got, "sqlite-serial (second) must give what plain mattn gives (first)")
}

// fidelityError describes err as the steps record it: SQLite's codes and message, or the
// error's text for an error that is not SQLite's.
func fidelityError(err error) string {
	var e sqlite3.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("error %d/%d: %s", e.Code, e.ExtendedCode, err)
	}
	return "error (not SQLite's): " + err.Error()
}

// TestFidelityReadYourWritesInsideRows: a session that loops over the rows of a SELECT and
// writes for each row reads its own writes back, as one mattn connection does (there the
// rows' read and the writes share one connection, whose snapshot includes its own commits).
func TestFidelityReadYourWritesInsideRows(t *testing.T) {
	type result struct {
		Increments  []int64 // n after each UPDATE n = n + 1, read back on the session
		ReadsForRMW []int64 // n as read before each write of n + 10
		Final       int64
	}
	fidelityBoth(t, func(t *testing.T, db *sql.DB) result {
		mustExec(t, db,
			"CREATE TABLE items(id INTEGER PRIMARY KEY)",
			"INSERT INTO items VALUES (1), (2), (3)",
			"CREATE TABLE counter(n INTEGER)",
			"INSERT INTO counter VALUES (0)")
		c := session(t, db)
		var r result
		rows, err := c.QueryContext(background, "SELECT id FROM items ORDER BY id")
		require.NoError(t, err)
		for rows.Next() {
			mustExec(t, c, "UPDATE counter SET n = n + 1")
			r.Increments = append(r.Increments, queryInt(t, c, "SELECT n FROM counter"))
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())

		rows, err = c.QueryContext(background, "SELECT id FROM items ORDER BY id")
		require.NoError(t, err)
		for rows.Next() {
			n := queryInt(t, c, "SELECT n FROM counter")
			r.ReadsForRMW = append(r.ReadsForRMW, n)
			_, err := c.ExecContext(background, "UPDATE counter SET n = ?", n+10)
			require.NoError(t, err)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		r.Final = queryInt(t, c, "SELECT n FROM counter")
		return r
	})
}

// fidelityStep is one step of a scripted run of sessions: the session it runs on and what it
// does.
type fidelityStep struct {
	s  string // the session: "a", "b", ...
	op string
	// sql is the statement, for the ops that take one.
	sql string
}

// The ops of a fidelityStep.
const (
	opExec     = "exec"     // ExecContext: LastInsertId and RowsAffected, or the error
	opRun      = "run"      // ExecContext: only whether it failed, and how
	opQuery    = "query"    // QueryContext, every row read, then closed
	opOpen     = "open"     // QueryContext, rows kept open on the session (a stack)
	opNext     = "next"     // Next and Scan on the session's latest open rows
	opClose    = "close"    // Close the session's latest open rows
	opBegin    = "begin"    // BeginTx with the default options; later steps run in it
	opCommit   = "commit"   // Commit the session's transaction
	opRollback = "rollback" // Rollback the session's transaction
	opValues   = "values"   // SELECT last_insert_rowid(), changes()
)

// fidelitySessions runs steps on sessions of one *sql.DB (one *sql.Conn each; with plain
// mattn that is one connection each) and returns one line per step.
type fidelitySessions struct {
	t     *testing.T
	db    *sql.DB
	conns map[string]*sql.Conn
	rows  map[string][]*sql.Rows
	txs   map[string]*sql.Tx
}

func newFidelitySessions(t *testing.T, db *sql.DB) *fidelitySessions {
	f := &fidelitySessions{t: t, db: db, conns: map[string]*sql.Conn{}, rows: map[string][]*sql.Rows{},
		txs: map[string]*sql.Tx{}}
	t.Cleanup(f.close)
	return f
}

// close ends whatever the steps left open, rows first.
func (f *fidelitySessions) close() {
	for _, rs := range f.rows {
		for _, r := range rs {
			r.Close()
		}
	}
	for _, tx := range f.txs {
		tx.Rollback()
	}
	for _, c := range f.conns {
		c.Close()
	}
}

func (f *fidelitySessions) conn(s string) *sql.Conn {
	if c := f.conns[s]; c != nil {
		return c
	}
	c, err := f.db.Conn(background)
	require.NoError(f.t, err)
	f.conns[s] = c
	return c
}

// target is what a session's statements run on: its transaction, if one is open.
func (f *fidelitySessions) target(s string) interface {
	execer
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
} {
	if tx := f.txs[s]; tx != nil {
		return tx
	}
	return f.conn(s)
}

// readRows reads every row of rows as text and closes them.
func readRows(rows *sql.Rows) string {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fidelityError(err)
	}
	var out []string
	for rows.Next() {
		out = append(out, scanRow(rows, len(cols)))
	}
	if err := rows.Err(); err != nil {
		out = append(out, fidelityError(err))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// scanRow scans the current row of rows, of n columns, as text.
func scanRow(rows *sql.Rows, n int) string {
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return fidelityError(err)
	}
	parts := make([]string, n)
	for i, v := range vals {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		parts[i] = fmt.Sprint(v)
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// run runs the steps and returns one line for each.
func (f *fidelitySessions) run(steps []fidelityStep) []string {
	var out []string
	for _, st := range steps {
		out = append(out, fmt.Sprintf("%s %s %s: %s", st.s, st.op, st.sql, f.step(st)))
	}
	return out
}

func (f *fidelitySessions) step(st fidelityStep) string {
	switch st.op {
	case opRun:
		if _, err := f.target(st.s).ExecContext(background, st.sql); err != nil {
			return fidelityError(err)
		}
		return "ok"
	case opExec:
		res, err := f.target(st.s).ExecContext(background, st.sql)
		if err != nil {
			return fidelityError(err)
		}
		id, err1 := res.LastInsertId()
		n, err2 := res.RowsAffected()
		return fmt.Sprintf("id %d (%v), rows %d (%v)", id, err1, n, err2)
	case opQuery, opValues:
		q := st.sql
		if st.op == opValues {
			q = "SELECT last_insert_rowid(), changes()"
		}
		rows, err := f.target(st.s).QueryContext(background, q)
		if err != nil {
			return fidelityError(err)
		}
		return readRows(rows)
	case opOpen:
		rows, err := f.target(st.s).QueryContext(background, st.sql)
		if err != nil {
			return fidelityError(err)
		}
		f.rows[st.s] = append(f.rows[st.s], rows)
		return "open"
	case opNext, opClose:
		rs := f.rows[st.s]
		if len(rs) == 0 {
			return "no rows open"
		}
		rows := rs[len(rs)-1]
		if st.op == opClose {
			f.rows[st.s] = rs[:len(rs)-1]
			if err := rows.Close(); err != nil {
				return fidelityError(err)
			}
			return "closed"
		}
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return fidelityError(err)
			}
			return "no more rows"
		}
		cols, _ := rows.Columns()
		return scanRow(rows, len(cols))
	case opBegin:
		tx, err := f.conn(st.s).BeginTx(background, nil)
		if err != nil {
			return fidelityError(err)
		}
		f.txs[st.s] = tx
		return "begun"
	case opCommit, opRollback:
		tx := f.txs[st.s]
		if tx == nil {
			return "no transaction open"
		}
		delete(f.txs, st.s)
		var err error
		if st.op == opCommit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			return fidelityError(err)
		}
		return "ended"
	}
	f.t.Fatalf("unknown op %q", st.op)
	return ""
}

// fidelitySteps runs setup through *sql.DB, then steps on sessions, on plain mattn (a WAL
// file) and on the driver, and requires the same lines.
func fidelitySteps(t *testing.T, driverQuery string, setup []string, steps []fidelityStep) {
	t.Helper()
	plain, serial := fidelityDBs(t, "_journal_mode=WAL", driverQuery)
	mustExec(t, plain, setup...)
	want := newFidelitySessions(t, plain).run(steps)
	mustExec(t, serial, setup...)
	got := newFidelitySessions(t, serial).run(steps)
	require.Equal(t, want, got, "sqlite-serial (second) must give what plain mattn gives (first), step by step")
}

// lastIDSchema has rowid tables whose ids coincide, upserts, triggers that update their own
// table or insert into another, a WITHOUT ROWID table and a unique tag on every row.
var lastIDSchema = []string{
	"CREATE TABLE t1(id INTEGER PRIMARY KEY, tag TEXT UNIQUE, n INTEGER DEFAULT 0)",
	"CREATE TABLE t2(id INTEGER PRIMARY KEY, tag TEXT UNIQUE, n INTEGER DEFAULT 0)",
	"CREATE TABLE self(id INTEGER PRIMARY KEY, tag TEXT UNIQUE, touched INTEGER DEFAULT 0)",
	"CREATE TRIGGER self_touch AFTER INSERT ON self BEGIN UPDATE self SET touched = touched + 1 WHERE id = NEW.id; END",
	"CREATE TABLE logged(id INTEGER PRIMARY KEY, tag TEXT UNIQUE)",
	"CREATE TABLE log(id INTEGER PRIMARY KEY, note TEXT)",
	"CREATE TRIGGER logged_log AFTER INSERT ON logged BEGIN INSERT INTO log(note) VALUES ('l' || NEW.id); INSERT INTO log(note) VALUES ('m' || NEW.id); END",
	"CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID",
	"CREATE TABLE src(x)",
	"INSERT INTO src VALUES (1), (2), (3), (4), (5)",
}

// TestFidelityLastInsertID: LastInsertId, RowsAffected, last_insert_rowid() and changes()
// of two interleaved sessions are what two dedicated mattn connections report, for every
// kind of insert, also when the new id equals the id another session just inserted.
func TestFidelityLastInsertID(t *testing.T) {
	ex := func(s, q string) fidelityStep { return fidelityStep{s: s, op: opExec, sql: q} }
	qu := func(s, q string) fidelityStep { return fidelityStep{s: s, op: opQuery, sql: q} }
	vals := func(s string) fidelityStep { return fidelityStep{s: s, op: opValues} }
	cases := map[string][]fidelityStep{
		"upsert that inserts an id another session just inserted": {
			ex("a", "INSERT INTO t1(tag) VALUES ('a1')"), vals("a"),
			ex("b", "INSERT INTO t2(tag) VALUES ('b1') ON CONFLICT(tag) DO UPDATE SET n = n + 1"), vals("b"),
			vals("a"),
		},
		"upsert, both branches": {
			ex("a", "INSERT INTO t1(tag) VALUES ('a1')"), ex("b", "INSERT INTO t2(tag) VALUES ('b1')"),
			ex("a", "INSERT INTO t2(tag) VALUES ('a2') ON CONFLICT(tag) DO UPDATE SET n = n + 1"), vals("a"),
			ex("b", "INSERT INTO t1(tag) VALUES ('x') ON CONFLICT(tag) DO UPDATE SET n = n + 1"), vals("b"),
			ex("a", "INSERT INTO t1(tag) VALUES ('a1') ON CONFLICT(tag) DO UPDATE SET n = n + 1"), vals("a"),
			ex("b", "INSERT INTO t2(tag) VALUES ('b1') ON CONFLICT(tag) DO UPDATE SET n = n + 1"), vals("b"),
			ex("a", "INSERT INTO t1(tag) VALUES ('a1') ON CONFLICT DO NOTHING"), vals("a"), vals("b"),
		},
		"trigger that updates the same table, id another session just inserted": {
			ex("a", "INSERT INTO t1(tag) VALUES ('a1')"),
			ex("b", "INSERT INTO self(tag) VALUES ('s1')"), vals("b"), vals("a"),
			ex("a", "INSERT INTO t1(tag) VALUES ('a2')"),
			ex("b", "INSERT INTO self(tag) VALUES ('s2')"), vals("b"), vals("a"),
		},
		"trigger that inserts into another table": {
			ex("a", "INSERT INTO t1(tag) VALUES ('a1')"),
			ex("b", "INSERT INTO logged(tag) VALUES ('l1')"), vals("b"), vals("a"),
			ex("a", "INSERT INTO logged(tag) VALUES ('l2')"), vals("a"), vals("b"),
		},
		"INSERT OR IGNORE that ignored, REPLACE": {
			ex("a", "INSERT INTO t1(tag) VALUES ('a1'), ('a2')"), ex("b", "INSERT INTO t2(tag) VALUES ('b1')"),
			ex("b", "INSERT OR IGNORE INTO t1(tag) VALUES ('a1')"), vals("b"), vals("a"),
			ex("a", "INSERT OR IGNORE INTO t2(tag) VALUES ('b1')"), vals("a"),
			ex("b", "REPLACE INTO t1(tag) VALUES ('a1')"), vals("b"), vals("a"),
			ex("a", "INSERT OR REPLACE INTO t2(id, tag) VALUES (1, 'b1')"), vals("a"), vals("b"),
		},
		"INSERT ... SELECT of many rows": {
			ex("a", "INSERT INTO t1(tag) SELECT 'a' || x FROM src"), vals("a"),
			ex("b", "INSERT INTO t2(tag) SELECT 'b' || x FROM src"), vals("b"), vals("a"),
			ex("b", "INSERT INTO t2(tag) SELECT 'c' || x FROM src WHERE x > 100"), vals("b"),
		},
		"WITHOUT ROWID": {
			ex("a", "INSERT INTO t1(tag) VALUES ('a1')"), ex("b", "INSERT INTO t2(tag) VALUES ('b1'), ('b2')"),
			ex("a", "INSERT INTO w(k, v) VALUES ('k1', 1), ('k2', 2)"), vals("a"), vals("b"),
			ex("b", "INSERT INTO w(k, v) VALUES ('k1', 1) ON CONFLICT(k) DO UPDATE SET v = v + 1"), vals("b"),
		},
		"RETURNING through Query": {
			ex("a", "INSERT INTO t1(tag) VALUES ('a1')"),
			qu("b", "INSERT INTO t2(tag) VALUES ('b1') RETURNING id, tag"), vals("b"), vals("a"),
			qu("a", "INSERT INTO t2(tag) VALUES ('a2') ON CONFLICT(tag) DO UPDATE SET n = n + 1 RETURNING id"), vals("a"),
			qu("b", "INSERT INTO self(tag) VALUES ('s1') RETURNING id"), vals("b"),
			qu("a", "UPDATE t1 SET n = n + 1 RETURNING id"), vals("a"), vals("b"),
		},
		"statements that fail part way": {
			ex("a", "INSERT INTO t1(tag) VALUES ('a1')"), ex("b", "INSERT INTO t2(tag) VALUES ('b1')"),
			ex("a", "INSERT INTO t2(tag) VALUES ('a2'), ('b1')"), vals("a"), vals("b"),
			ex("b", "INSERT OR FAIL INTO t1(tag) VALUES ('b2'), ('a1')"), vals("b"), vals("a"),
			ex("a", "INSERT INTO self(tag) VALUES ('s1'), ('s1')"), vals("a"),
			qu("b", "INSERT INTO t2(tag) VALUES ('b3'), ('b1') RETURNING id"), vals("b"), vals("a"),
			ex("a", "INSERT INTO t1(id, tag) VALUES (1, 'dup')"), vals("a"),
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) { fidelitySteps(t, "", lastIDSchema, steps) })
	}
	t.Run("8 goroutines", func(t *testing.T) {
		plain, serial := fidelityDBs(t, "_journal_mode=WAL&_busy_timeout=10000", "")
		for name, db := range map[string]*sql.DB{"mattn": plain, "sqlite-serial": serial} {
			mustExec(t, db, lastIDSchema...)
			wrong := concurrentInserts(t, db)
			require.Empty(t, wrong, "%s: %d of 600 inserts report another row; the first: %s", name, len(wrong),
				strings.Join(wrong[:min(len(wrong), 5)], "; "))
		}
	})
}

// concurrentInserts runs 600 inserts from 8 goroutines, half of them each on a session of
// its own, half on db directly, into three tables whose ids collide, as plain inserts,
// upserts that insert and inserts whose trigger updates their own table. It returns a line
// for every LastInsertId (and, on a session, last_insert_rowid()) that is not the row
// inserted.
func concurrentInserts(t *testing.T, db *sql.DB) []string {
	t.Helper()
	inserts := []struct{ table, sql string }{
		{"t1", "INSERT INTO t1(tag) VALUES (?)"},
		{"t2", "INSERT INTO t2(tag) VALUES (?) ON CONFLICT(tag) DO UPDATE SET n = n + 1"},
		{"self", "INSERT INTO self(tag) VALUES (?)"},
	}
	var mu sync.Mutex
	var wrong []string
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		wrong = append(wrong, fmt.Sprintf(format, args...))
	}
	var g errgroup.Group
	for gi := range 8 {
		g.Go(func() error {
			var on interface {
				execer
				queryer
			} = db
			if gi%2 == 0 {
				c, err := db.Conn(background)
				if err != nil {
					return err
				}
				defer c.Close()
				on = c
			}
			for i := range 75 {
				in := inserts[(gi+i)%len(inserts)]
				tag := fmt.Sprintf("g%d-%d", gi, i)
				res, err := on.ExecContext(background, in.sql, tag)
				if err != nil {
					return fmt.Errorf("%s %s: %w", in.sql, tag, err)
				}
				id, err := res.LastInsertId()
				if err != nil {
					return err
				}
				var got string
				err = on.QueryRowContext(background, "SELECT tag FROM "+in.table+" WHERE id = ?", id).Scan(&got)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				if got != tag {
					report("%s (%s): LastInsertId %d is the row of %q", in.sql, tag, id, got)
				}
				if gi%2 == 0 {
					var last int64
					if err := on.QueryRowContext(background, "SELECT last_insert_rowid()").Scan(&last); err != nil {
						return err
					}
					if last != id {
						report("%s (%s): last_insert_rowid() %d, LastInsertId %d", in.sql, tag, last, id)
					}
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	return wrong
}

// TestFidelitySessionValuesRace: a session alternating INSERT and SELECT count(*) through
// ExecContext while another goroutine inserts through the *sql.DB. Under -race the race
// detector is the assertion; the counts are checked against plain mattn's too.
func TestFidelitySessionValuesRace(t *testing.T) {
	const n = 300
	fidelityBoth(t, func(t *testing.T, db *sql.DB) int64 {
		mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT)")
		a := session(t, db)
		var g errgroup.Group
		g.Go(func() error {
			for range n {
				if _, err := a.ExecContext(background, "INSERT INTO t(who) VALUES ('a')"); err != nil {
					return err
				}
				if _, err := a.ExecContext(background, "SELECT count(*) FROM t"); err != nil {
					return err
				}
			}
			return nil
		})
		g.Go(func() error {
			for range n {
				if _, err := db.ExecContext(background, "INSERT INTO t(who) VALUES ('b')"); err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(t, g.Wait())
		return queryInt(t, db, "SELECT count(*) FROM t")
	})
}

// TestFidelityReadOnlyDatabaseStatements: on a database opened with mode=ro or
// immutable=1, statements that plain mattn runs without error (pragma settings, a CREATE
// TABLE IF NOT EXISTS of a table that exists, a SELECT through Exec) do not panic the
// driver, and give mattn's result.
func TestFidelityReadOnlyDatabaseStatements(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	setup, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	mustExec(t, setup, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES ('x')")
	require.NoError(t, setup.Close())

	statements := []string{
		"PRAGMA busy_timeout = 1000",
		"PRAGMA foreign_keys = ON",
		"CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)",
		"SELECT 1",
	}
	// run runs every statement on a fresh *sql.DB of driverName and returns, for each, its
	// error (or "nil") or the panic it raised.
	run := func(t *testing.T, driverName, dsn string) []string {
		var out []string
		for _, q := range statements {
			db, err := sql.Open(driverName, dsn)
			require.NoError(t, err)
			out = append(out, q+": "+execRecovering(db, q))
			db.Close()
		}
		return out
	}
	for _, query := range []string{"mode=ro", "immutable=1"} {
		t.Run(query, func(t *testing.T) {
			dsn := "file:" + path + "?" + query
			want := run(t, "sqlite3", dsn)
			require.Equal(t, want, run(t, DriverName, dsn),
				"sqlite-serial (second) must give what plain mattn gives (first), and never panic")
		})
	}
}

// execRecovering runs q through db.Exec and describes how it ended: "nil", its error, or the
// panic it raised.
func execRecovering(db *sql.DB, q string) (out string) {
	defer func() {
		if p := recover(); p != nil {
			out = fmt.Sprintf("PANIC: %v", p)
		}
	}()
	if _, err := db.Exec(q); err != nil {
		return fidelityError(err)
	}
	return "nil"
}

// TestFidelityFileSettingsAfterVacuum: auto_vacuum and page_size read back through the
// *sql.DB after they were changed and applied by VACUUM, with readers opened before the
// change, are what plain mattn reads in the same journal mode, used the same way (one call
// at a time, so all on one connection). In WAL mode SQLite cannot change the page size:
// VACUUM applies auto_vacuum = INCREMENTAL (2) but page_size stays 4096; in rollback mode
// both change (2 and 8192). Both pragmas report what the connection last read from the
// file without reading it again: another mattn connection opened before the change reports
// 0 and 4096 until its next read of the database.
func TestFidelityFileSettingsAfterVacuum(t *testing.T) {
	type settings struct {
		Before, After [2]int64 // auto_vacuum, page_size
	}
	sequence := func(t *testing.T, db *sql.DB) settings {
		read := func() [2]int64 {
			return [2]int64{queryInt(t, db, "PRAGMA auto_vacuum"), queryInt(t, db, "PRAGMA page_size")}
		}
		mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (1), (2)")
		for range 3 {
			queryInt(t, db, "SELECT count(*) FROM t")
		}
		var s settings
		s.Before = read()
		mustExec(t, db, "PRAGMA auto_vacuum = INCREMENTAL", "PRAGMA page_size = 8192", "VACUUM")
		s.After = read()
		return s
	}
	for _, mode := range []struct{ name, mattn, driver string }{
		{"WAL, the driver's default", "_journal_mode=WAL", ""},
		{"rollback journal", "_journal_mode=DELETE", "_journal_mode=DELETE"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			plain, serial := fidelityDBs(t, mode.mattn, mode.driver)
			want := sequence(t, plain)
			require.Equal(t, want, sequence(t, serial), "sqlite-serial (second) must read what plain mattn reads (first)")
		})
	}
}

// TestFidelityDatabaseList: PRAGMA database_list and pragma_database_list list the
// databases of the session's connection as mattn's connection does. PRAGMA integrity_check
// and quick_check open the temp database on mattn's connection (it is listed afterwards);
// a temp.sqlite_master read on one session opens it on that session's connection only.
func TestFidelityDatabaseList(t *testing.T) {
	list := func(t *testing.T, c *sql.Conn) []string {
		var out []string
		for _, q := range []string{"PRAGMA database_list", "SELECT * FROM pragma_database_list"} {
			rows, err := c.QueryContext(background, q)
			require.NoError(t, err)
			var names []string
			for rows.Next() {
				var seq int64
				var name string
				var file any
				require.NoError(t, rows.Scan(&seq, &name, &file))
				names = append(names, name)
			}
			require.NoError(t, rows.Err())
			require.NoError(t, rows.Close())
			out = append(out, q+": "+strings.Join(names, ","))
		}
		return out
	}
	for _, first := range []string{"PRAGMA integrity_check", "PRAGMA quick_check", "SELECT count(*) FROM temp.sqlite_master"} {
		t.Run(first, func(t *testing.T) {
			fidelityBoth(t, func(t *testing.T, db *sql.DB) []string {
				mustExec(t, db, "CREATE TABLE t(v)")
				a, b := session(t, db), session(t, db)
				out := append([]string{"b before"}, list(t, b)...)
				rows, err := a.QueryContext(background, first)
				require.NoError(t, err)
				readRows(rows)
				out = append(out, "a after")
				out = append(out, list(t, a)...)
				out = append(out, "b after")
				return append(out, list(t, b)...)
			})
		})
	}
}

// withRaw runs fn on the *sqlite3.SQLiteConn behind db: for plain mattn through Conn.Raw
// (db is limited to that one connection first, so that everything later runs on it), for
// the driver through WithWriter.
func withRaw(t *testing.T, db *sql.DB, fn func(c *sqlite3.SQLiteConn) error) error {
	t.Helper()
	if _, ok := db.Driver().(*Driver); ok {
		return WithWriter(background, db, fn)
	}
	db.SetMaxOpenConns(1)
	c, err := db.Conn(background)
	require.NoError(t, err)
	defer c.Close()
	return c.Raw(func(dc any) error { return fn(dc.(*sqlite3.SQLiteConn)) })
}

// TestFidelityDeserializeThroughWithWriter: a 3-row snapshot deserialized over a 1-row
// table through WithWriter is what later reads through the *sql.DB see, and a later insert
// makes 4, as on mattn's connection after Deserialize through Conn.Raw. (Deserialize makes
// that connection's main database an in-memory copy, journal_mode "memory", with no file
// name: the later insert never reaches the file, which another connection still sees with
// its 1 row.)
func TestFidelityDeserializeThroughWithWriter(t *testing.T) {
	source, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "source.db"))
	require.NoError(t, err)
	defer source.Close()
	mustExec(t, source, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)",
		"INSERT INTO t(v) VALUES ('s1'), ('s2'), ('s3')")
	var snapshot []byte
	require.NoError(t, withRaw(t, source, func(c *sqlite3.SQLiteConn) error {
		snapshot, err = c.Serialize("main")
		return err
	}))

	type counts struct {
		AfterDeserialize, AfterInsert int64
		Values                        string
	}
	fidelityBoth(t, func(t *testing.T, db *sql.DB) counts {
		mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES ('old')")
		require.Equal(t, int64(1), queryInt(t, db, "SELECT count(*) FROM t"))
		require.NoError(t, withRaw(t, db, func(c *sqlite3.SQLiteConn) error {
			return c.Deserialize(snapshot, "main")
		}))
		var r counts
		r.AfterDeserialize = queryInt(t, db, "SELECT count(*) FROM t")
		mustExec(t, db, "INSERT INTO t(v) VALUES ('new')")
		r.AfterInsert = queryInt(t, db, "SELECT count(*) FROM t")
		rows, err := db.Query("SELECT id, v FROM t ORDER BY id")
		require.NoError(t, err)
		r.Values = readRows(rows)
		return r
	})
}

// TestFidelityWithWriterStateSurvivesRefusedWrite: a function and an update hook installed
// through WithWriter still work after PRAGMA query_only = 1, one insert it refuses, and
// PRAGMA query_only = 0 through the *sql.DB, as on mattn's connection.
func TestFidelityWithWriterStateSurvivesRefusedWrite(t *testing.T) {
	type result struct {
		Steps []string
		Rows  string
		Hooks int64
	}
	fidelityBoth(t, func(t *testing.T, db *sql.DB) result {
		mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)")
		var hooks atomic.Int64
		require.NoError(t, withRaw(t, db, func(c *sqlite3.SQLiteConn) error {
			c.RegisterUpdateHook(func(op int, database, table string, rowid int64) {
				if op == sqlite3.SQLITE_INSERT && table == "t" {
					hooks.Add(1)
				}
			})
			return c.RegisterFunc("fidelity_double", func(x int64) int64 { return 2 * x }, true)
		}))
		var r result
		for _, q := range []string{
			"INSERT INTO t(v) VALUES (fidelity_double(1))",
			"PRAGMA query_only = 1",
			"INSERT INTO t(v) VALUES (fidelity_double(2))",
			"PRAGMA query_only = 0",
			"INSERT INTO t(v) VALUES (fidelity_double(3))",
			"INSERT INTO t(v) VALUES (fidelity_double(4))",
		} {
			out := "nil"
			if _, err := db.Exec(q); err != nil {
				out = fidelityError(err)
			}
			r.Steps = append(r.Steps, q+": "+out)
		}
		rows, err := db.Query("SELECT id, v FROM t ORDER BY id")
		require.NoError(t, err)
		r.Rows = readRows(rows)
		r.Hooks = hooks.Load()
		return r
	})
}

// TestFidelitySessionConnections compares sessions that keep state of their own (temp
// tables) step by step with one plain mattn connection per session, in WAL mode. mattn runs
// a statement's first step inside Query, so open rows hold their snapshot from the moment
// Query returns; a deferred BEGIN on that connection keeps reading that snapshot, writes to
// the main database there fail with SQLITE_BUSY_SNAPSHOT once another connection committed,
// but writes to the connection's temp tables still work.
func TestFidelitySessionConnections(t *testing.T) {
	setup := []string{"CREATE TABLE t1(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t1(v) VALUES ('x'), ('y'), ('z')"}
	run := func(s, q string) fidelityStep { return fidelityStep{s: s, op: opRun, sql: q} }
	qu := func(s, q string) fidelityStep { return fidelityStep{s: s, op: opQuery, sql: q} }
	open := func(s, q string) fidelityStep { return fidelityStep{s: s, op: opOpen, sql: q} }
	op := func(s, o string) fidelityStep { return fidelityStep{s: s, op: o} }
	bCommits := fidelityStep{s: "b", op: opExec, sql: "INSERT INTO t1(v) VALUES ('b')"}
	ownConnections := []fidelityStep{run("a", "CREATE TEMP TABLE ta(x)"), run("b", "CREATE TEMP TABLE tb(x)")}
	with := func(prefix []fidelityStep, steps ...fidelityStep) []fidelityStep {
		return append(append([]fidelityStep{}, prefix...), steps...)
	}
	cases := map[string][]fidelityStep{
		// (a) The session's rows are older than b's commit: a write through Query to its
		// temp table, BeginTx and SQLite's own error for an incomplete statement.
		"a: writes and BeginTx inside rows older than another session's commit": with(ownConnections,
			open("a", "SELECT id FROM t1 ORDER BY id"), op("a", opNext), bCommits,
			qu("a", "INSERT INTO ta VALUES (1) RETURNING x"),
			qu("a", "INSERT INTO t1 VALUES ("),
			run("a", "INSERT INTO t1 VALUES ("),
			op("a", opBegin),
			qu("a", "SELECT count(*) FROM t1"),
			qu("a", "INSERT INTO ta VALUES (2) RETURNING x"),
			run("a", "INSERT INTO ta VALUES (3)"),
			op("a", opCommit),
			qu("a", "SELECT x FROM ta ORDER BY x"),
			op("a", opNext), op("a", opClose),
			qu("a", "SELECT count(*) FROM t1")),
		// (c) Rows opened inside a transaction begun in SQL still hold the writer after it
		// ended; the session's first temp table must still be its own.
		"c: CREATE TEMP TABLE while rows of a SAVEPOINT are open after RELEASE": {
			run("a", "SAVEPOINT sp"), open("a", "SELECT id FROM t1 ORDER BY id"), op("a", opNext), run("a", "RELEASE sp"),
			run("a", "CREATE TEMP TABLE tt(x)"), run("a", "INSERT INTO tt VALUES (1)"),
			op("a", opClose),
			run("a", "CREATE TEMP TABLE tt(x)"),
			qu("a", "SELECT count(*) FROM tt"),
			qu("b", "SELECT count(*) FROM temp.sqlite_master WHERE name = 'tt'"),
			run("b", "INSERT INTO tt VALUES (2)"),
			qu("a", "SELECT x FROM tt ORDER BY x")},
		"c: CREATE TEMP TABLE while rows of a BEGIN are open after END": {
			run("a", "BEGIN"), open("a", "SELECT id FROM t1 ORDER BY id"), op("a", opNext), run("a", "END"),
			run("a", "CREATE TEMP TABLE tt(x)"), run("a", "INSERT INTO tt VALUES (1)"),
			op("a", opClose),
			run("a", "CREATE TEMP TABLE tt(x)"),
			qu("b", "SELECT count(*) FROM temp.sqlite_master WHERE name = 'tt'"),
			run("b", "INSERT INTO tt VALUES (2)"),
			qu("a", "SELECT x FROM tt ORDER BY x")},
		// (d) A transaction begun in SQL inside open rows reads their snapshot.
		"d: raw BEGIN inside rows, on its own connection from before": with(ownConnections,
			open("a", "SELECT id FROM t1 ORDER BY id"), op("a", opNext), bCommits,
			run("a", "BEGIN"), qu("a", "SELECT count(*) FROM t1"),
			op("a", opClose), qu("a", "SELECT count(*) FROM t1"),
			run("a", "COMMIT"), qu("a", "SELECT count(*) FROM t1")),
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) { fidelitySteps(t, "", setup, steps) })
	}
}

// TestTempObjectsOfASharedWriterTransaction: a temp table that a session without a
// connection of its own creates inside a transaction is never seen by another session, and
// no other session's write lands in it, also after the transaction; the driver drops it when
// the transaction ends (once no rows of it are open on the writer).
func TestTempObjectsOfASharedWriterTransaction(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)")
	a, b := session(t, db), session(t, db)
	tx, err := a.BeginTx(background, nil)
	require.NoError(t, err)
	mustExec(t, tx, "CREATE TEMP TABLE t(k TEXT PRIMARY KEY, v INTEGER)", "INSERT INTO t VALUES ('temp', 1)")
	rows, err := tx.Query("SELECT k FROM t")
	require.NoError(t, err)
	require.True(t, rows.Next())
	require.NoError(t, rows.Close())
	require.NoError(t, tx.Commit())

	mustExec(t, b, "INSERT INTO t VALUES ('main', 2)")
	require.EqualValues(t, 1, queryInt(t, b, "SELECT count(*) FROM main.t"))
	require.EqualValues(t, 0, queryInt(t, b, "SELECT count(*) FROM temp.sqlite_schema"))
	_, err = a.ExecContext(background, "INSERT INTO temp.t VALUES ('gone', 3)")
	require.ErrorContains(t, err, "no such table")
	require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t"))

	// The same with SQL transaction control, and rows of the transaction still open after
	// its end: the table goes once they close.
	mustExec(t, a, "BEGIN", "CREATE TEMP TABLE u(x)", "INSERT INTO u VALUES (1), (2)")
	open, err := a.QueryContext(background, "SELECT x FROM u")
	require.NoError(t, err)
	require.True(t, open.Next())
	mustExec(t, a, "COMMIT")
	require.True(t, open.Next())
	require.NoError(t, open.Close())
	_, err = b.ExecContext(background, "INSERT INTO u VALUES (3)")
	require.ErrorContains(t, err, "no such table")
}

// TestSessionReadsTheLatestWhereMattnWouldFailItsWrite: a session that begins a transaction
// in SQL, or gets a connection of its own, while its rows opened before another session's
// commit are open on a reader reads the latest commits, and its writes succeed. One mattn
// connection keeps the rows' snapshot and fails such writes with SQLITE_BUSY_SNAPSHOT, which
// the driver never returns within one process; reading newer data than mattn's snapshot is
// the documented fresh-snapshot difference.
func TestSessionReadsTheLatestWhereMattnWouldFailItsWrite(t *testing.T) {
	for _, start := range []string{"BEGIN", "CREATE TEMP TABLE mine(x)"} {
		t.Run(start, func(t *testing.T) {
			type outcome struct {
				Count int64
				Write string
			}
			got := map[string]outcome{}
			for _, name := range []string{"sqlite3", "sqlite-serial"} {
				db, err := sql.Open(name, filepath.Join(t.TempDir(), "s.db")+"?_journal_mode=WAL&_busy_timeout=0")
				require.NoError(t, err)
				mustExec(t, db, "CREATE TABLE t1(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t1(v) VALUES ('x'), ('y'), ('z')")
				a, b := session(t, db), session(t, db)
				rows, err := a.QueryContext(background, "SELECT id FROM t1")
				require.NoError(t, err)
				require.True(t, rows.Next())
				mustExec(t, b, "INSERT INTO t1(v) VALUES ('b')")
				mustExec(t, a, start)
				var o outcome
				o.Count = queryInt(t, a, "SELECT count(*) FROM t1")
				o.Write = "ok"
				if _, err := a.ExecContext(background, "INSERT INTO t1(v) VALUES ('a')"); err != nil {
					o.Write = fidelityError(err)
				}
				require.NoError(t, rows.Close())
				if start == "BEGIN" {
					_, _ = a.ExecContext(background, "ROLLBACK")
				}
				got[name] = o
				require.NoError(t, a.Close())
				require.NoError(t, b.Close())
				require.NoError(t, db.Close())
			}
			require.Equal(t, outcome{Count: 3, Write: "error 5/517: database is locked"}, got["sqlite3"], "mattn")
			require.Equal(t, outcome{Count: 4, Write: "ok"}, got["sqlite-serial"], "the driver")
		})
	}
}
