//go:build cgo

package sqliteserial

import (
	"database/sql"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/stretchr/testify/require"

	"github.com/sqlite-serial/sqlite-serial/internal/route"
)

// routeSetup is the schema the routing cases run against.
var routeSetup = []string{
	"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)",
	"INSERT INTO t(v) VALUES ('a'), ('b'), ('c')",
	`CREATE TABLE "select"("insert" TEXT)`,
}

// TestRouting sends each statement through *sql.DB, by Exec or by Query, and checks where
// it ran: a reader only when it certainly only reads and has no connection-local meaning.
func TestRouting(t *testing.T) {
	cases := []struct {
		name  string
		query string
		exec  bool // run with Exec, else with Query
		want  route.Route
	}{
		{"select", "SELECT * FROM t", false, route.Reader},
		{"leading comments, odd casing", "/* INSERT */ -- DELETE\n  sElEcT v FrOm t WhErE id = 1", false, route.Reader},
		{"keywords in a string", "SELECT 'INSERT INTO t VALUES (1); DROP TABLE t' AS s", false, route.Reader},
		{"keywords in quoted identifiers", `SELECT "insert" FROM "select"`, false, route.Reader},
		{"with select", "WITH x(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM x WHERE n < 3) SELECT * FROM x", false, route.Reader},
		{"with insert", "WITH x(v) AS (SELECT 'w') INSERT INTO t(v) SELECT v FROM x", true, route.Writer},
		{"with update", "WITH x(i) AS (SELECT 1) UPDATE t SET v = 'u' WHERE id IN (SELECT i FROM x)", true, route.Writer},
		{"with delete", "WITH x(i) AS (SELECT 2) DELETE FROM t WHERE id IN (SELECT i FROM x)", true, route.Writer},
		{"insert returning by query", "INSERT INTO t(v) VALUES ('r') RETURNING id", false, route.Writer},
		{"update returning by query", "UPDATE t SET v = 'q' WHERE id = 1 RETURNING v", false, route.Writer},
		{"delete returning by query", "DELETE FROM t WHERE v = 'r' RETURNING id", false, route.Writer},
		{"explain select", "EXPLAIN SELECT * FROM t", false, route.Reader},
		{"explain query plan", "EXPLAIN QUERY PLAN SELECT * FROM t WHERE id = 1", false, route.Reader},
		{"explain insert", "EXPLAIN INSERT INTO t(v) VALUES ('x')", false, route.Writer},
		{"pragma read of the file", "PRAGMA user_version", false, route.Reader},
		{"pragma introspection", "PRAGMA table_info(t)", false, route.Reader},
		{"pragma integrity check", "PRAGMA integrity_check", false, route.Reader},
		{"pragma assignment", "PRAGMA user_version = 7", true, route.Writer},
		{"pragma read of a connection setting", "PRAGMA foreign_keys", false, route.Writer},
		{"pragma setting", "PRAGMA cache_size = -4000", true, route.Writer},
		{"pragma checkpoint", "PRAGMA wal_checkpoint(PASSIVE)", false, route.Writer},
		{"vacuum", "VACUUM", true, route.Writer},
		{"analyze", "ANALYZE", true, route.Writer},
		{"reindex", "REINDEX", true, route.Writer},
		{"create index", "CREATE INDEX t_v ON t(v)", true, route.Writer},
		{"last_insert_rowid", "SELECT last_insert_rowid()", false, route.Writer},
		{"changes", "SELECT changes()", false, route.Writer},
		{"total_changes", "SELECT total_changes()", false, route.Writer},
		{"script with a later write, by exec", "SELECT 1; INSERT INTO t(v) VALUES ('s')", true, route.Writer},
		{"script with a later write, by query", "SELECT 1; UPDATE t SET v = 'z' WHERE id = 3", false, route.Writer},
		{"script of reads", "SELECT 1; SELECT count(*) FROM t", false, route.Reader},
		{"unknown table", "SELECT * FROM nowhere", false, route.Writer},
	}
	db, _ := openDB(t, "")
	mustExec(t, db, routeSetup...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			got := routesOf(t, db, func() {
				if tc.exec {
					_, err = db.Exec(tc.query)
					return
				}
				var rows *sql.Rows
				if rows, err = db.Query(tc.query); err == nil {
					err = rows.Close()
				}
			})
			if tc.name != "unknown table" {
				require.NoError(t, err, tc.query)
			}
			want := routes{reader: 1}
			if tc.want == route.Writer {
				want = routes{writer: 1}
			}
			require.Equal(t, want, got, tc.query)
		})
	}
}

// TestWritesThroughQueryAreApplied checks what routing is for: INSERT ... RETURNING through
// Query and QueryRow, as gorm and sqlc send it, really writes.
func TestWritesThroughQueryAreApplied(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, routeSetup...)
	var id int64
	require.NoError(t, db.QueryRow("INSERT INTO t(v) VALUES (?) RETURNING id", "new").Scan(&id))
	var v string
	require.NoError(t, db.QueryRow("SELECT v FROM t WHERE id = ?", id).Scan(&v))
	require.Equal(t, "new", v)

	rows, err := db.Query("UPDATE t SET v = v || '!' RETURNING v")
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, 4, n)
	require.EqualValues(t, 4, queryInt(t, db, "SELECT count(*) FROM t WHERE v LIKE '%!'"))

	_, err = db.Exec("SELECT 1; INSERT INTO t(v) VALUES ('script')")
	require.NoError(t, err)
	require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t WHERE v = 'script'"))
}

// TestMisroutedWriteIsRetriedOnTheWriter forces a write onto a reader by planting a wrong
// judgement in the cache: the reader refuses it, the driver runs it on the writer, once,
// and the caller sees no error.
func TestMisroutedWriteIsRetriedOnTheWriter(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/m.db"})
	mustExec(t, db, routeSetup...)
	for i, run := range []func(q string) error{
		func(q string) error { _, err := db.Exec(q); return err },
		func(q string) error { var id int64; return db.QueryRow(q + " RETURNING id").Scan(&id) },
	} {
		q := "INSERT INTO t(v) VALUES ('misrouted')"
		if i == 1 {
			cn.router.remember(q+" RETURNING id", &route.Classification{Route: route.Reader, Known: true})
		} else {
			cn.router.remember(q, &route.Classification{Route: route.Reader, Known: true})
		}
		got := routesOf(t, db, func() { require.NoError(t, run(q)) })
		require.Equal(t, routes{reader: 1, retried: 1}, got)
	}
	require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t WHERE v = 'misrouted'"))
	got := routesOf(t, db, func() { mustExec(t, db, "INSERT INTO t(v) VALUES ('misrouted')") })
	require.Equal(t, routes{writer: 1}, got, "the corrected judgement is remembered")
}

// TestSessionStateOnOneConn checks that statements with connection-local meaning on one
// *sql.Conn see each other, as on a single connection.
func TestSessionStateOnOneConn(t *testing.T) {
	db, path := openDB(t, "")
	mustExec(t, db, routeSetup...)
	c := session(t, db)

	t.Run("temp table", func(t *testing.T) {
		mustExec(t, c, "CREATE TEMP TABLE scratch(x)", "INSERT INTO scratch VALUES (1), (2)")
		require.EqualValues(t, 2, queryInt(t, c, "SELECT count(*) FROM scratch"))
		require.EqualValues(t, 2, queryInt(t, c, "SELECT count(*) FROM temp.scratch"))
	})
	t.Run("temp table shadows a main table", func(t *testing.T) {
		mustExec(t, c, "CREATE TEMP TABLE t(id, v)")
		require.EqualValues(t, 0, queryInt(t, c, "SELECT count(*) FROM t"), "the session sees its temp t")
		require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM main.t"))
		mustExec(t, c, "DROP TABLE temp.t")
	})
	t.Run("attach", func(t *testing.T) {
		other := t.TempDir() + "/other.db"
		_, err := c.ExecContext(background, "ATTACH DATABASE ? AS aux", other)
		require.NoError(t, err)
		mustExec(t, c, "CREATE TABLE aux.x(v)", "INSERT INTO aux.x VALUES (1)")
		require.EqualValues(t, 1, queryInt(t, c, "SELECT count(*) FROM aux.x"))
		mustExec(t, c, "DETACH DATABASE aux")
	})
	t.Run("last_insert_rowid and changes", func(t *testing.T) {
		mustExec(t, c, "INSERT INTO t(v) VALUES ('x')")
		id := queryInt(t, c, "SELECT max(id) FROM t")
		require.Equal(t, id, queryInt(t, c, "SELECT last_insert_rowid()"))
		mustExec(t, c, "UPDATE t SET v = 'y' WHERE id <= 2")
		require.EqualValues(t, 2, queryInt(t, c, "SELECT changes()"))
	})
	t.Run("pragma set by exec", func(t *testing.T) {
		mustExec(t, c, "PRAGMA case_sensitive_like = ON")
		require.EqualValues(t, 0, queryInt(t, c, "SELECT 'A' LIKE 'a'"))
		mustExec(t, c, "PRAGMA case_sensitive_like = OFF")
		require.EqualValues(t, 1, queryInt(t, c, "SELECT 'A' LIKE 'a'"))
	})
	t.Run("transaction in SQL", func(t *testing.T) {
		mustExec(t, c, "BEGIN", "INSERT INTO t(v) VALUES ('in-sql-tx')", "SAVEPOINT sp",
			"INSERT INTO t(v) VALUES ('rolled-back')", "ROLLBACK TO sp", "RELEASE sp")
		require.EqualValues(t, 1, queryInt(t, c, "SELECT count(*) FROM t WHERE v = 'in-sql-tx'"), "the session sees its own write")
		// Another session reads the last commit, from a reader.
		require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t WHERE v = 'in-sql-tx'"))
		mustExec(t, c, "COMMIT")
		require.EqualValues(t, 1, queryInt(t, db, "SELECT count(*) FROM t WHERE v = 'in-sql-tx'"))
		require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t WHERE v = 'rolled-back'"))
	})
	_ = path
}

// TestTransactionInSQLHoldsTheWriter checks that a session that began a transaction in SQL
// keeps the writer until it ends it: another session's write waits, then runs after.
func TestTransactionInSQLHoldsTheWriter(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/h.db"})
	mustExec(t, db, routeSetup...)
	events := queued(t, cn)
	c := session(t, db)
	mustExec(t, c, "BEGIN", "DELETE FROM t")

	done := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO t(v) VALUES ('after')")
		done <- err
	}()
	require.Equal(t, 1, receive(t, events), "the other write queues behind the session")
	mustExec(t, c, "ROLLBACK")
	require.NoError(t, receive(t, done))
	require.EqualValues(t, 4, queryInt(t, db, "SELECT count(*) FROM t"))
}

// TestScriptThatBeginsAndCommits checks a script that is a whole transaction.
func TestScriptThatBeginsAndCommits(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, routeSetup...)
	mustExec(t, db, "BEGIN; INSERT INTO t(v) VALUES ('1'); INSERT INTO t(v) VALUES ('2'); COMMIT;")
	require.EqualValues(t, 5, queryInt(t, db, "SELECT count(*) FROM t"))
	// The session is not left holding the writer: another write goes through.
	mustExec(t, db, "INSERT INTO t(v) VALUES ('3')")
}

// TestSchemaChangeInvalidatesTheCache checks that a cached judgement is dropped when the
// schema changes.
func TestSchemaChangeInvalidatesTheCache(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/s.db"})
	mustExec(t, db, routeSetup...)
	queryInt(t, db, "SELECT count(*) FROM t")
	_, cached := cn.router.lookup("SELECT count(*) FROM t")
	require.True(t, cached)
	mustExec(t, db, "CREATE TABLE other(x)")
	_, cached = cn.router.lookup("SELECT count(*) FROM t")
	require.False(t, cached)
}

// TestCacheIsDroppedWhenTheSchemaChanges checks a statement whose judgement depends on the
// schema: SQLite calls EXPLAIN REINDEX of a table read-only while the table has no index,
// and writing once it has one. The cached judgement must not outlive the schema change.
func TestCacheIsDroppedWhenTheSchemaChanges(t *testing.T) {
	path := t.TempDir() + "/c.db"
	db, cn := openConnector(t, &Config{DSN: path})
	mustExec(t, db, "CREATE TABLE r(a)")
	oracle := scratchConnAt(t, path)
	const explain = "EXPLAIN REINDEX r"

	require.True(t, readOnlyOn(t, oracle, explain), "SQLite: no index, nothing to rebuild")
	got := routesOf(t, db, func() { mustExec(t, db, explain) })
	require.Equal(t, routes{reader: 1}, got)
	_, cached := cn.router.lookup(explain)
	require.True(t, cached)

	mustExec(t, db, "CREATE INDEX r_a ON r(a)")
	_, cached = cn.router.lookup(explain)
	require.False(t, cached, "the schema change dropped the judgement")

	require.False(t, readOnlyOn(t, oracle, explain), "SQLite: now it writes")
	got = routesOf(t, db, func() { mustExec(t, db, explain) })
	require.Equal(t, routes{writer: 1}, got)

	got = routesOf(t, db, func() { mustExec(t, db, "REINDEX r") })
	require.Equal(t, routes{writer: 1}, got, "REINDEX itself always goes to the writer")
}

// readOnlyOn reports whether SQLite calls the one statement query read-only, prepared on
// c once c read the schema again.
func readOnlyOn(t testing.TB, c *sqlite3.SQLiteConn, query string) bool {
	t.Helper()
	_, err := c.Exec("SELECT 1 FROM sqlite_schema LIMIT 1", nil)
	require.NoError(t, err)
	s, err := c.PrepareContext(background, query)
	require.NoError(t, err)
	defer s.Close()
	return s.(*sqlite3.SQLiteStmt).Readonly()
}

// scratchConnAt returns a plain mattn connection to the database at path.
func scratchConnAt(t testing.TB, path string) *sqlite3.SQLiteConn {
	t.Helper()
	dc, err := (&sqlite3.SQLiteDriver{}).Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { dc.Close() })
	return dc.(*sqlite3.SQLiteConn)
}

// BenchmarkRouterCacheHit measures the router's cost for a statement it has judged before,
// next to the whole time of a primary-key point read through the driver in the same run,
// and reports the first as a percentage of the second.
func BenchmarkRouterCacheHit(b *testing.B) {
	db, cn := openConnector(b, &Config{DSN: b.TempDir() + "/b.db"})
	mustExec(b, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000) INSERT INTO t SELECT i, 'v' || i FROM c")
	const q = "SELECT v FROM t WHERE id = ?"
	var v string
	require.NoError(b, db.QueryRow(q, 1).Scan(&v))
	var routing, reading time.Duration
	var rounds int
	for b.Loop() {
		start := time.Now()
		for range 1000 {
			if _, err := cn.router.classify(background, q, true); err != nil {
				b.Fatal(err)
			}
		}
		routing += time.Since(start)
		start = time.Now()
		for i := range 100 {
			if err := db.QueryRow(q, i%1000+1).Scan(&v); err != nil {
				b.Fatal(err)
			}
		}
		reading += time.Since(start)
		rounds++
	}
	perRoute := float64(routing.Nanoseconds()) / float64(rounds*1000)
	perRead := float64(reading.Nanoseconds()) / float64(rounds*100)
	b.ReportMetric(perRoute, "route-ns")
	b.ReportMetric(perRead, "point-read-ns")
	b.ReportMetric(100*perRoute/perRead, "route-%-of-read")
}
