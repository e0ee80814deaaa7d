//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/sqlite-serial/sqlite-serial/internal/route"
)

// TestLongTextsAreNotKeptAlive runs many distinct statements of a mebibyte each (a value
// inlined into the SQL) and requires the heap to keep none of them once they ran: the
// judgement cache is bounded in bytes and keeps no text longer than routeTextLimit, and a
// session remembers its last judgement only for texts the cache may keep.
func TestLongTextsAreNotKeptAlive(t *testing.T) {
	db, _ := openDB(t, "")
	_, err := db.Exec("CREATE TABLE t(n INTEGER)")
	require.NoError(t, err)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const texts, size = 40, 1 << 20
	before := heap()
	for i := range texts {
		literal := strings.Repeat(string(rune('a'+i%26)), size) + fmt.Sprint(i)
		_, err := db.Exec("INSERT INTO t(n) SELECT length('" + literal + "')")
		require.NoError(t, err)
	}
	grown := int64(heap()) - int64(before)
	require.Less(t, grown, int64(8<<20), "the heap grew by %d bytes after %d statements of %d bytes", grown, texts, size)
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, texts, n)
}

// TestRouteCacheIsBoundedInBytes fills the judgement cache with texts short enough to be
// cached and requires it to start over once their bytes pass routeCacheBytes.
func TestRouteCacheIsBoundedInBytes(t *testing.T) {
	r := newRouter(nil, nil)
	text := strings.Repeat("x", routeTextLimit)
	for i := 0; i*routeTextLimit <= routeCacheBytes+routeTextLimit; i++ {
		r.remember(fmt.Sprint(i, text), &route.Classification{Known: true})
		require.LessOrEqual(t, r.cache.Load().bytes.Load(), int64(routeCacheBytes+2*routeTextLimit))
	}
	r.remember(text+text, &route.Classification{Known: true})
	_, cached := r.lookup(text + text)
	require.False(t, cached, "a text longer than routeTextLimit is not cached")
}

// TestJudgementSeesTablesOtherHandlesCreate creates a table through another handle on the
// file, after the driver's classifiers read the schema, and requires a read of it to be
// judged a read and sent to a reader, although no schema change went through the driver:
// SQLite reads the schema again when a prepare fails on an old copy of it.
func TestJudgementSeesTablesOtherHandlesCreate(t *testing.T) {
	db, path := openDB(t, "")
	var one int
	require.NoError(t, db.QueryRow("SELECT 1 FROM sqlite_schema UNION ALL SELECT 1 LIMIT 1").Scan(&one))

	other, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	defer other.Close()
	_, err = other.Exec("CREATE TABLE made_elsewhere(v); INSERT INTO made_elsewhere VALUES (7)")
	require.NoError(t, err)

	before, err := StatsOf(db)
	require.NoError(t, err)
	var v int
	require.NoError(t, db.QueryRow("SELECT v FROM made_elsewhere").Scan(&v))
	require.Equal(t, 7, v)
	after, err := StatsOf(db)
	require.NoError(t, err)
	require.Equal(t, before.ReadRoutes+1, after.ReadRoutes, "the read went to a reader")
	require.Equal(t, before.WriteRoutes, after.WriteRoutes)
}

// TestJudgementAfterASchemaChangeCommits redefines a view inside a transaction, so that
// reading it becomes a read of last_insert_rowid(), while other statements are judged
// meanwhile, and requires a session's read of the view after the COMMIT to answer its own
// last_insert_rowid(), as on plain mattn: judgements made after the commit see the schema it
// committed.
func TestJudgementAfterASchemaChangeCommits(t *testing.T) {
	ctx := context.Background()
	for _, driverName := range []string{"sqlite3", DriverName} {
		t.Run(driverName, func(t *testing.T) {
			db := openWALOn(t, driverName)
			_, err := db.Exec("CREATE TABLE t(v); CREATE VIEW v AS SELECT 0 AS id")
			require.NoError(t, err)
			c, err := db.Conn(ctx)
			require.NoError(t, err)
			defer c.Close()
			_, err = c.ExecContext(ctx, "INSERT INTO t(rowid, v) VALUES (42, 'x')")
			require.NoError(t, err)

			tx, err := db.Begin()
			require.NoError(t, err)
			_, err = tx.Exec("DROP VIEW v")
			require.NoError(t, err)
			_, err = tx.Exec("CREATE VIEW v AS SELECT last_insert_rowid() AS id")
			require.NoError(t, err)
			var id int64
			// Judged while the transaction is open: the committed view is the old one.
			require.NoError(t, c.QueryRowContext(ctx, "SELECT id FROM v WHERE 1").Scan(&id))
			require.Equal(t, int64(0), id)
			require.NoError(t, tx.Commit())

			require.NoError(t, c.QueryRowContext(ctx, "SELECT id FROM v").Scan(&id))
			require.Equal(t, int64(42), id, "the session's own last_insert_rowid(), through the view")
		})
	}
}

// TestDistinctTextsJudgedInParallel judges distinct texts from several goroutines at once,
// more than there are classifiers, and requires every answer to be right.
func TestDistinctTextsJudgedInParallel(t *testing.T) {
	db, _ := openDB(t, "")
	_, err := db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)")
	require.NoError(t, err)
	var g errgroup.Group
	const goroutines, each = 3 * 8, 40
	for w := range goroutines {
		g.Go(func() error {
			for i := range each {
				id := w*each + i
				if _, err := db.Exec(fmt.Sprintf("INSERT INTO t(id, v) VALUES (%d, %d)", id, id*2)); err != nil {
					return err
				}
				var v int
				if err := db.QueryRow(fmt.Sprintf("SELECT v FROM t WHERE id = %d", id)).Scan(&v); err != nil {
					return err
				}
				if v != id*2 {
					return fmt.Errorf("id %d: v = %d", id, v)
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, goroutines*each, n)
}

// TestFirstTimeStatementsAsOnMattn runs statements no judgement is cached for, which the
// driver judges on the reader that runs them, and requires the columns, rows and errors of
// plain mattn for each: arguments that fit, too many (mattn ignores the rest) and too few,
// named ones, a comment after the semicolon (which mattn runs as a statement of its own),
// and reads of connection-local values, which go to the writer.
func TestFirstTimeStatementsAsOnMattn(t *testing.T) {
	type query struct {
		sql  string
		args []any
	}
	queries := []query{
		{sql: "SELECT 1"},
		{sql: "SELECT 2;"},
		{sql: "SELECT 3; -- a comment after it"},
		{sql: "SELECT 4 -- a comment inside it"},
		{sql: "  SELECT 5 ;  \n"},
		{sql: "SELECT ?", args: []any{6}},
		{sql: "SELECT ?, ?", args: []any{7}},
		{sql: "SELECT ?", args: []any{8, 9}},
		{sql: "SELECT :a, $b", args: []any{sql.Named("a", 10), sql.Named("b", 11)}},
		{sql: "VALUES (12), (13)"},
		{sql: "WITH x(v) AS (SELECT 14) SELECT v FROM x"},
		{sql: "SELECT v FROM t ORDER BY v"},
		{sql: "SELECT nosuch FROM t"},
		{sql: "SELECT * FROM nosuch"},
		{sql: "SELECT last_insert_rowid(), changes()"},
		{sql: "SELECT name FROM pragma_database_list"},
		{sql: "SELECT count(*) FROM temp.sqlite_master"},
		{sql: "SELECT name FROM pragma_database_list ORDER BY 1"},
	}
	run := func(driverName string) []string {
		db := openWALOn(t, driverName)
		c, err := db.Conn(context.Background())
		require.NoError(t, err)
		defer c.Close()
		_, err = c.ExecContext(context.Background(), "CREATE TABLE t(v); INSERT INTO t VALUES (1), (2)")
		require.NoError(t, err)
		var out []string
		for _, q := range queries {
			rows, err := c.QueryContext(context.Background(), q.sql, q.args...)
			if err != nil {
				out = append(out, fmt.Sprintf("%s: error %v", q.sql, err))
				continue
			}
			cols, err := rows.Columns()
			require.NoError(t, err)
			line := fmt.Sprintf("%s: %v", q.sql, cols)
			for _, vals := range scanValues(t, rows, len(cols)) {
				line += fmt.Sprintf(" %v", vals)
			}
			line += fmt.Sprintf(" err=%v", rows.Err())
			require.NoError(t, rows.Close())
			out = append(out, line)
		}
		return out
	}
	require.Equal(t, run("sqlite3"), run(DriverName))
}
