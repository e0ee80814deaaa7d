//go:build cgo

package route

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"unsafe"

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

// openAt returns a plain mattn connection to the database at path, with schema run on it.
func openAt(t testing.TB, path, schema string) *sqlite3.SQLiteConn {
	t.Helper()
	dc, err := (&sqlite3.SQLiteDriver{}).Open(path)
	require.NoError(t, err)
	c := dc.(*sqlite3.SQLiteConn)
	t.Cleanup(func() { c.Close() })
	if schema != "" {
		_, err = c.Exec(schema, nil)
		require.NoError(t, err)
	}
	return c
}

// judge is a connection with a recorder installed, as the driver's classifiers are.
type judge struct {
	conn *sqlite3.SQLiteConn
	rec  *Recorder
}

// newJudge returns a judge on a new connection to the database at path.
func newJudge(t testing.TB, path string) *judge {
	t.Helper()
	c := openAt(t, path, "")
	rec, err := Install(handleOf(c))
	require.NoError(t, err)
	t.Cleanup(func() { rec.Free(handleOf(c)); c.Close() })
	return &judge{conn: c, rec: rec}
}

// handleOf returns c's sqlite3 handle, which mattn keeps in its unexported field db.
func handleOf(c *sqlite3.SQLiteConn) unsafe.Pointer {
	return reflect.ValueOf(c).Elem().FieldByName("db").UnsafePointer()
}

// of judges query as the driver's router does: by its words, then by preparing each of
// its statements.
func (j *judge) of(t testing.TB, query string) *Classification {
	t.Helper()
	cls, statements := JudgeWords(query)
	if len(statements) > 0 {
		require.False(t, j.rec.Judge(j.conn, cls, statements), "the connection broke judging %q", query)
	}
	return cls
}

// corpusJudge returns a judge on a database with the corpus schema, and an oracle: a plain
// connection to another database with the same schema.
func corpusJudge(t testing.TB) (*judge, *sqlite3.SQLiteConn) {
	t.Helper()
	schema, err := os.ReadFile("testdata/schema.sql")
	require.NoError(t, err)
	dir := t.TempDir()
	openAt(t, dir+"/corpus.db", string(schema))
	return newJudge(t, dir+"/corpus.db"), openAt(t, dir+"/scratch.db", string(schema))
}

// sqliteJudgement prepares query statement by statement as SQLite splits it, and returns
// SQLite's read-only judgement of each. It stops at the first statement that does not
// prepare. The tail of each statement is read from mattn's statement by reflection: this
// is a test of the splitting against SQLite's own, which mattn does not expose.
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

// TestRoutingCorpus judges every statement of the corpus.
func TestRoutingCorpus(t *testing.T) {
	entries := loadCorpus(t)
	require.GreaterOrEqual(t, len(entries), 300)
	j, _ := corpusJudge(t)
	var wrong []string
	for _, e := range entries {
		cls := j.of(t, e.sql)
		got := "reader"
		switch {
		case cls.Pins:
			got = "session"
		case cls.Route == Writer:
			got = "writer"
		}
		if got != e.route {
			wrong = append(wrong, fmt.Sprintf("routes.tsv:%d: want %s, got %s: %s", e.line, e.route, got, e.sql))
		}
	}
	require.Empty(t, wrong, strings.Join(wrong, "\n"))
}

// TestJudgementAgreesWithSQLite checks the judgement against SQLite itself: no statement
// that sqlite3_stmt_readonly says writes may go to a reader, and Split never sees fewer
// statements in a string than SQLite does.
func TestJudgementAgreesWithSQLite(t *testing.T) {
	j, oracle := corpusJudge(t)
	for _, e := range loadCorpus(t) {
		requireAgreement(t, j, oracle, e.sql)
	}
}

// requireAgreement checks the judgement of query against SQLite's.
func requireAgreement(t *testing.T, j *judge, oracle *sqlite3.SQLiteConn, query string) {
	t.Helper()
	cls := j.of(t, query)
	readOnly, _ := sqliteJudgement(oracle, query)
	for i, ro := range readOnly {
		if !ro {
			require.Equal(t, Writer, cls.Route, "SQLite says statement %d of %q writes", i, query)
		}
	}
	if cls.Route == Reader {
		require.GreaterOrEqual(t, len(Split(query)), len(readOnly), "Split split %q into fewer statements than SQLite", query)
	}
}

// FuzzJudgement checks, on generated statements, that the judgement never panics, is the
// same twice, and never sends to a reader a statement SQLite says writes. The corpus seeds
// it.
func FuzzJudgement(f *testing.F) {
	for _, e := range loadCorpus(f) {
		f.Add(e.sql)
	}
	j, oracle := corpusJudge(f)
	f.Fuzz(func(t *testing.T, query string) {
		if len(query) > 4096 {
			return
		}
		first, again := j.of(t, query), j.of(t, query)
		require.Equal(t, *first, *again, "the judgement of %q is deterministic", query)
		require.Equal(t, Split(query), Split(query))
		requireAgreement(t, j, oracle, query)
	})
}
