//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sessionScript is what one session does: statements that rely on the connection's own
// state. Each step returns one line of results, or the error.
var sessionScript = []string{
	"CREATE TEMP TABLE scratch(x)",
	"INSERT INTO scratch VALUES (1), (2)",
	"SELECT count(*) FROM scratch",
	"INSERT INTO t(v) VALUES ('mine')",
	"SELECT last_insert_rowid()",
	"SELECT changes()",
	"UPDATE t SET n = n + 1 WHERE id <= 2",
	"SELECT changes()",
	"SELECT last_insert_rowid()",
	"CREATE TEMP TABLE t(id, v, n)",
	"SELECT count(*) FROM t",
	"DROP TABLE temp.t",
	"ATTACH DATABASE ':memory:' AS aux",
	"CREATE TABLE aux.x(v)",
	"INSERT INTO aux.x VALUES ('a'), ('b'), ('c')",
	"SELECT count(*), last_insert_rowid(), changes() FROM aux.x",
	"PRAGMA defer_foreign_keys = ON",
	"PRAGMA defer_foreign_keys",
	"BEGIN",
	"INSERT INTO t(v) VALUES ('in tx')",
	"SELECT count(*) FROM t",
	"SAVEPOINT s",
	"DELETE FROM t",
	"SELECT count(*), changes() FROM t",
	"ROLLBACK TO s",
	"RELEASE s",
	"COMMIT",
	"SELECT count(*), last_insert_rowid() FROM t",
	"INSERT INTO t(v) VALUES ('returning') RETURNING id",
	"SELECT last_insert_rowid(), changes()",
	"INSERT INTO t(id, v) VALUES (1, 'duplicate')",
	"SELECT last_insert_rowid(), changes()",
	"SELECT count(*) FROM scratch",
	"DETACH DATABASE aux",
	"SELECT count(*) FROM aux.x",
	"PRAGMA defer_foreign_keys",
	"SELECT total_changes() > 0",
}

// sharedWriterScript is what a session without state of its own does: it runs on the
// shared writer, where other sessions' writes come between its statements.
var sharedWriterScript = []string{
	"SELECT last_insert_rowid(), changes()",
	"INSERT INTO t(v) VALUES ('mine')",
	"SELECT last_insert_rowid(), changes()",
	"UPDATE t SET n = n + 1",
	"SELECT changes(), last_insert_rowid()",
	"INSERT INTO t(v) VALUES ('returning') RETURNING id",
	"SELECT last_insert_rowid(), changes()",
	"INSERT INTO t(id, v) VALUES (1, 'duplicate')",
	"SELECT last_insert_rowid(), changes()",
	"DELETE FROM t WHERE v = 'nothing'",
	"SELECT last_insert_rowid(), changes()",
	"INSERT INTO t(v) VALUES ('a'), ('b'), ('c'); SELECT last_insert_rowid(), changes()",
	"SELECT last_insert_rowid(), changes()",
	"BEGIN",
	"INSERT INTO t(v) VALUES ('in tx')",
	"SELECT last_insert_rowid(), changes()",
	"COMMIT",
	"SELECT last_insert_rowid(), changes()",
}

// interference is what other sessions do between the steps of sessionScript: the same
// names, other inserts and updates, a transaction of their own.
var interference = []string{
	"CREATE TEMP TABLE IF NOT EXISTS scratch(y)",
	"INSERT INTO noise(v) VALUES ('noise'), ('noise')",
	"UPDATE noise SET v = v || '!'",
	"ATTACH DATABASE ':memory:' AS aux",
	"DETACH DATABASE aux",
	"BEGIN; INSERT INTO noise(v) VALUES ('tx'); COMMIT",
	"PRAGMA defer_foreign_keys = OFF",
}

// runSessionScript runs script on c, letting interfere run before each step, and returns
// one line per step.
func runSessionScript(t *testing.T, script []string, c *sql.Conn, interfere func(step string)) []string {
	t.Helper()
	var out []string
	for _, step := range script {
		interfere(step)
		rows, err := c.QueryContext(context.Background(), step)
		if err != nil {
			out = append(out, step+" -> error: "+err.Error())
			continue
		}
		var line []string
		cols, _ := rows.Columns()
		for _, vals := range scanValues(t, rows, len(cols)) {
			line = append(line, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			line = append(line, "error: "+err.Error())
		}
		require.NoError(t, rows.Close())
		out = append(out, step+" -> "+strings.Join(line, "; "))
	}
	return out
}

func sessionSchema(t *testing.T, db *sql.DB) {
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER DEFAULT 0)",
		"INSERT INTO t(v) VALUES ('a'), ('b')",
		"CREATE TABLE noise(id INTEGER PRIMARY KEY, v TEXT)")
}

// TestSessionBehavesAsOneConnection runs the same script on one *sql.Conn of plain
// mattn/go-sqlite3, alone, and on one *sql.Conn of the driver while other sessions use the
// same names and write between its steps: every result must be the same. One script keeps
// state of its own (temp tables, an attachment, a pragma); the other runs on the shared
// writer, where last_insert_rowid() and changes() must still be the session's own.
func TestSessionBehavesAsOneConnection(t *testing.T) {
	for name, script := range map[string][]string{"own state": sessionScript, "shared writer": sharedWriterScript} {
		t.Run(name, func(t *testing.T) {
			plain, err := sql.Open("sqlite3", t.TempDir()+"/plain.db")
			require.NoError(t, err)
			defer plain.Close()
			sessionSchema(t, plain)
			pc := session(t, plain)
			want := runSessionScript(t, script, pc, func(string) {})

			db, _ := openDB(t, "")
			sessionSchema(t, db)
			sc := session(t, db)
			others := make([]*sql.Conn, 3)
			for i := range others {
				others[i], err = db.Conn(background)
				require.NoError(t, err)
				defer others[i].Close()
			}
			n, inTx := 0, false
			got := runSessionScript(t, script, sc, func(step string) {
				// While the session's transaction holds the writer, the others' writes would
				// only wait for it: they interfere outside it.
				if !inTx {
					statement := interference[n%len(interference)]
					n++
					for _, o := range others {
						_, err := o.ExecContext(background, statement)
						require.NoError(t, err, statement)
					}
					_, err := db.Exec("INSERT INTO noise(v) VALUES ('db')")
					require.NoError(t, err)
				}
				inTx = step == "BEGIN" || inTx && step != "COMMIT"
			})
			require.Equal(t, want, got)
			require.Greater(t, queryInt(t, db, "SELECT count(*) FROM noise"), int64(0), "the other sessions did write")
		})
	}
}

// TestSessionConnectionLifecycle checks when a session gets a connection of its own and
// that it keeps it until the connection closes.
func TestSessionConnectionLifecycle(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/s.db"})
	sessionSchema(t, db)
	c, err := db.Conn(background)
	require.NoError(t, err)
	mustExec(t, c, "INSERT INTO t(v) VALUES ('x')", "PRAGMA foreign_keys = ON")
	require.Zero(t, cn.Stats().SessionConnsOpen, "writes and broadcast pragmas need no connection of the session's own")
	mustExec(t, c, "CREATE TEMP TABLE own(x)")
	require.Equal(t, 1, cn.Stats().SessionConnsOpen)
	got := routesOf(t, db, func() {
		mustExec(t, c, "INSERT INTO own VALUES (1)")
		require.EqualValues(t, 1, queryInt(t, c, "SELECT count(*) FROM own"))
		require.EqualValues(t, 3, queryInt(t, c, "SELECT count(*) FROM t"))
	})
	require.Equal(t, routes{pinned: 3}, got)
	require.NoError(t, c.Close()) // back to database/sql's pool: the state stays

	c, err = db.Conn(background)
	require.NoError(t, err)
	require.EqualValues(t, 1, queryInt(t, c, "SELECT count(*) FROM own"), "the pooled connection kept its temp table")
	require.NoError(t, c.Close())

	db.SetMaxIdleConns(0) // database/sql closes the connection: its session connection goes too
	require.Zero(t, cn.Stats().SessionConnsOpen)
	require.EqualValues(t, 1, cn.Stats().SessionConnsOpened)
}

// TestSessionReadsDoNotWaitForTheWriter checks that a session with a connection of its own
// reads while another session holds the writer.
func TestSessionReadsDoNotWaitForTheWriter(t *testing.T) {
	db, _ := openDB(t, "_serial_write_wait=30s")
	sessionSchema(t, db)
	c := session(t, db)
	mustExec(t, c, "CREATE TEMP TABLE own AS SELECT * FROM t")
	tx, err := db.Begin()
	require.NoError(t, err)
	defer tx.Rollback()
	require.EqualValues(t, 2, queryInt(t, c, "SELECT count(*) FROM own"))
	require.EqualValues(t, 2, queryInt(t, c, "SELECT count(*) FROM t JOIN own USING (id)"))
	require.Zero(t, stats(t, db).WriterQueueDepth)
}

// TestTemporaryTablesInATransactionOnTheSharedWriter checks the rebuild idiom of
// migrations: a temp table created and dropped inside one transaction.
func TestTemporaryTablesInATransactionOnTheSharedWriter(t *testing.T) {
	db, _ := openDB(t, "")
	sessionSchema(t, db)
	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx,
		"CREATE TEMPORARY TABLE t_backup AS SELECT * FROM t",
		"DROP TABLE t",
		"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER DEFAULT 0)",
		"INSERT INTO t SELECT * FROM t_backup",
		"DROP TABLE t_backup")
	require.NoError(t, tx.Commit())
	require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t"))
	var notNull int
	require.NoError(t, db.QueryRow("SELECT \"notnull\" FROM pragma_table_info('t') WHERE name = 'v'").Scan(&notNull))
	require.Equal(t, 1, notNull)
}
