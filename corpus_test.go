//go:build cgo

package sqliteserial

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// corpusEntry is one statement of testdata/routes.tsv with its expected route.
type corpusEntry struct {
	line  int
	route string // reader, writer or session
	sql   string
}

// loadCorpus reads testdata/routes.tsv.
func loadCorpus(t testing.TB) []corpusEntry {
	t.Helper()
	f, err := os.Open("testdata/routes.tsv")
	require.NoError(t, err)
	defer f.Close()
	var entries []corpusEntry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		route, text, ok := strings.Cut(line, "\t")
		require.True(t, ok, "routes.tsv:%d has no tab", n)
		require.Contains(t, []string{"reader", "writer", "session"}, route, "routes.tsv:%d", n)
		entries = append(entries, corpusEntry{line: n, route: route, sql: strings.ReplaceAll(text, `\n`, "\n")})
	}
	require.NoError(t, sc.Err())
	return entries
}

// corpusSchema returns testdata/schema.sql.
func corpusSchema(t testing.TB) string {
	t.Helper()
	schema, err := os.ReadFile("testdata/schema.sql")
	require.NoError(t, err)
	return string(schema)
}

// corpusRouter returns a connector whose database has the corpus schema.
func corpusRouter(t testing.TB, dir string) *Connector {
	t.Helper()
	cn, err := NewConnector(&Config{DSN: dir + "/corpus.db"})
	require.NoError(t, err)
	db := sql.OpenDB(cn)
	t.Cleanup(func() { db.Close() })
	mustExec(t, db, corpusSchema(t))
	return cn
}

// scratchConn returns a plain mattn connection to a database with the corpus schema: the
// oracle of the differential tests.
func scratchConn(t testing.TB, dir string) *sqlite3.SQLiteConn {
	t.Helper()
	dc, err := (&sqlite3.SQLiteDriver{}).Open(dir + "/scratch.db")
	require.NoError(t, err)
	c := dc.(*sqlite3.SQLiteConn)
	t.Cleanup(func() { c.Close() })
	_, err = c.Exec(corpusSchema(t), nil)
	require.NoError(t, err)
	return c
}

// sqliteJudgement prepares query statement by statement as SQLite splits it, and returns
// SQLite's read-only judgement of each. It stops at the first statement that does not
// prepare. The tail of each statement is read from mattn's statement by reflection: this
// is a test of the driver's splitting against SQLite's own, which mattn does not expose.
func sqliteJudgement(c *sqlite3.SQLiteConn, query string) (readOnly []bool, err error) {
	if _, err := c.Exec("SELECT 1 FROM sqlite_schema LIMIT 1", nil); err != nil { // reloads the schema
		return nil, err
	}
	for query != "" {
		s, err := c.PrepareContext(context.Background(), query)
		if err != nil {
			return readOnly, err
		}
		ss := s.(*sqlite3.SQLiteStmt)
		v := reflect.ValueOf(ss).Elem()
		if !v.FieldByName("s").IsNil() {
			readOnly = append(readOnly, ss.Readonly())
		}
		query = v.FieldByName("t").String()
		ss.Close()
	}
	return readOnly, nil
}

// TestRoutingCorpus runs every statement of the corpus through the router.
func TestRoutingCorpus(t *testing.T) {
	entries := loadCorpus(t)
	require.GreaterOrEqual(t, len(entries), 300)
	cn := corpusRouter(t, t.TempDir())
	var wrong []string
	for _, e := range entries {
		cls, err := cn.router.judge(background, e.sql, true)
		require.NoError(t, err)
		got := "reader"
		switch {
		case cls.pins:
			got = "session"
		case cls.route == toWriter:
			got = "writer"
		}
		if got != e.route {
			wrong = append(wrong, fmt.Sprintf("routes.tsv:%d: want %s, got %s: %s", e.line, e.route, got, e.sql))
		}
	}
	require.Empty(t, wrong, strings.Join(wrong, "\n"))
}

// TestRouterAgreesWithSQLite checks the router against SQLite itself: no statement that
// sqlite3_stmt_readonly says writes may go to a reader, and the router never sees fewer
// statements in a string than SQLite does.
func TestRouterAgreesWithSQLite(t *testing.T) {
	dir := t.TempDir()
	cn, oracle := corpusRouter(t, dir), scratchConn(t, dir)
	for _, e := range loadCorpus(t) {
		requireAgreement(t, cn, oracle, e.sql)
	}
}

// requireAgreement checks the router's judgement of query against SQLite's.
func requireAgreement(t *testing.T, cn *Connector, oracle *sqlite3.SQLiteConn, query string) {
	t.Helper()
	cls, err := cn.router.judge(background, query, true)
	require.NoError(t, err)
	readOnly, _ := sqliteJudgement(oracle, query)
	for i, ro := range readOnly {
		if !ro {
			require.Equal(t, toWriter, cls.route, "SQLite says statement %d of %q writes", i, query)
		}
	}
	if cls.route == toReader {
		require.GreaterOrEqual(t, len(splitStatements(query)), len(readOnly),
			"the router split %q into fewer statements than SQLite", query)
	}
}

// FuzzRouter checks, on generated statements, that the router never panics, judges the
// same way twice, and never sends to a reader a statement SQLite says writes. The corpus
// seeds it.
func FuzzRouter(f *testing.F) {
	for _, e := range loadCorpus(f) {
		f.Add(e.sql)
	}
	dir := f.TempDir()
	cn, oracle := corpusRouter(f, dir), scratchConn(f, dir)
	f.Fuzz(func(t *testing.T, query string) {
		if len(query) > 4096 {
			return
		}
		first, err := cn.router.judge(background, query, true)
		require.NoError(t, err)
		again, err := cn.router.judge(background, query, true)
		require.NoError(t, err)
		require.Equal(t, *first, *again, "the judgement of %q is deterministic", query)
		require.Equal(t, splitStatements(query), splitStatements(query))
		requireAgreement(t, cn, oracle, query)
	})
}
