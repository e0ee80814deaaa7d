//go:build cgo

package sqliteserial

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// hostileSQL is input a careless or malicious caller may send.
var hostileSQL = map[string]string{
	"empty":                        "",
	"white space":                  " \t\n ",
	"only a line comment":          "-- nothing here",
	"only a block comment":         "/* nothing here */",
	"unterminated block comment":   "/* never closed",
	"unterminated after statement": "SELECT 1 /* never closed",
	"unterminated string":          "SELECT 'never closed",
	"unterminated identifier":      `SELECT "never closed`,
	"unterminated bracket":         "SELECT [never closed",
	"only semicolons":              ";;;",
	"NUL byte alone":               "\x00",
	"NUL byte before a write":      "SELECT 1\x00; DELETE FROM keep",
	"NUL byte in a string":         "SELECT 'a\x00b'",
	"NUL byte in a comment":        "SELECT 1 /* \x00 */; DELETE FROM keep",
	"1 MB statement":               "SELECT length('" + strings.Repeat("x", 1<<20) + "')",
	"deeply nested parentheses":    "SELECT " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000),
	"deep expression":              "SELECT " + strings.Repeat("1+", 50000) + "1",
	"deeply nested subqueries":     "SELECT " + strings.Repeat("(SELECT ", 300) + "1" + strings.Repeat(")", 300),
	"huge IN list":                 "SELECT 1 IN (" + strings.Repeat("1,", 100000) + "1)",
	"too many parameters":          "SELECT " + strings.Repeat("?,", 40000) + "?",
	"stray bytes":                  "\xff\xfe\x01 SELECT",
	"keyword soup":                 "SELECT SELECT FROM FROM WHERE;",
	"TCL variable with semicolon":  "SELECT $a(;) ; DELETE FROM keep",
}

// hostileOutcome describes what running query did: its rows or its error.
func hostileOutcome(db *sql.DB, query string) string {
	res, err := db.Exec(query)
	if err != nil {
		return "exec error: " + err.Error()
	}
	n, _ := res.RowsAffected()
	rows, err := db.Query(query)
	if err != nil {
		return fmt.Sprintf("exec rows=%d; query error: %v", n, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "scan error: " + err.Error()
		}
		lines = append(lines, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		lines = append(lines, "rows error: "+err.Error())
	}
	return fmt.Sprintf("exec rows=%d; query %v: %s", n, cols, strings.Join(lines, "; "))
}

// TestHostileSQL sends hostile input through the driver and through plain mattn: each gives
// the same outcome, SQLite's own error or the right result, and afterwards the pool works
// and nothing was lost.
func TestHostileSQL(t *testing.T) {
	setup := []string{"CREATE TABLE keep(v)", "INSERT INTO keep VALUES (1), (2), (3)", "CREATE TABLE scratch(v)"}
	plain, err := sql.Open("sqlite3", t.TempDir()+"/plain.db?_journal_mode=WAL")
	require.NoError(t, err)
	defer plain.Close()
	mustExec(t, plain, setup...)
	db, _ := openDB(t, "")
	mustExec(t, db, setup...)

	for name, query := range hostileSQL {
		want, got := hostileOutcome(plain, query), hostileOutcome(db, query)
		require.Equal(t, want, got, name)
	}

	// Scripts of 10,000 statements: mattn copies the rest of a script after each statement,
	// which makes them slow enough under the race detector to run once, through the driver
	// only, checking the result.
	_, err = db.Exec("BEGIN;" + strings.Repeat("INSERT INTO scratch VALUES(1);", 10000) + "COMMIT;")
	require.NoError(t, err)
	require.EqualValues(t, 10000, queryInt(t, db, "SELECT count(*) FROM scratch"))
	got := routesOf(t, db, func() {
		_, err = db.Exec(strings.Repeat("SELECT 1;", 10000))
		require.NoError(t, err)
	})
	require.Equal(t, routes{reader: 1}, got, "a script of reads runs on a reader")

	require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM keep"), "nothing was lost")
	mustExec(t, db, "INSERT INTO keep VALUES (4)")
	var check string
	require.NoError(t, db.QueryRow("PRAGMA integrity_check").Scan(&check))
	require.Equal(t, "ok", check)
	s := stats(t, db)
	require.Zero(t, s.WriterQueueDepth)
	require.Zero(t, s.ReadersInUse)
}
