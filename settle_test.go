//go:build cgo

package sqliteserial

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// TestWritesThroughQueryFailLikeMattn sends writes that fail of their own accord through
// Query, through plain mattn and through the driver, which settles them in a transaction
// of its own: the error and what stays applied are the same. OR FAIL keeps the rows it
// changed before the conflict; a deferred foreign key fails the statement at its end.
func TestWritesThroughQueryFailLikeMattn(t *testing.T) {
	setup := []string{
		"CREATE TABLE t(id INTEGER PRIMARY KEY, u UNIQUE)", "INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)",
		"CREATE TABLE p(id INTEGER PRIMARY KEY)",
		"CREATE TABLE c(p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)",
	}
	writes := []string{
		"UPDATE OR FAIL t SET u = CASE id WHEN 1 THEN 11 WHEN 2 THEN 3 ELSE u END",
		"UPDATE OR FAIL t SET u = CASE id WHEN 1 THEN 12 WHEN 2 THEN 3 ELSE u END RETURNING id",
		"UPDATE t SET u = CASE id WHEN 1 THEN 13 WHEN 2 THEN 3 ELSE u END",
		"INSERT INTO c VALUES (42)",
		"INSERT INTO c VALUES (43) RETURNING p",
	}
	run := func(db *sql.DB) []string {
		mustExec(t, db, "PRAGMA foreign_keys = ON")
		mustExec(t, db, setup...)
		var out []string
		for _, w := range writes {
			rows, err := db.Query(w)
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				if cerr := rows.Close(); err == nil {
					err = cerr
				}
			}
			var e sqlite3.Error
			code := 0
			if err != nil {
				require.ErrorAs(t, err, &e, w)
				code = int(e.ExtendedCode)
			}
			var state string
			require.NoError(t, db.QueryRow("SELECT group_concat(u) || ' / ' || (SELECT count(*) FROM c) FROM t").Scan(&state))
			out = append(out, fmt.Sprintf("%s: error %d, then %s", w, code, state))
		}
		return out
	}
	plain, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "plain.db"))
	require.NoError(t, err)
	defer plain.Close()
	plain.SetMaxOpenConns(1) // foreign_keys is a setting of the connection
	db, _ := openDB(t, "")
	require.Equal(t, run(plain), run(db))
}
