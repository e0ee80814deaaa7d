//go:build cgo

package sqliteserial

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// sessionStep is one statement of one of two sessions, "a" or "b". A SELECT returns two
// columns.
type sessionStep struct {
	session string
	sql     string
}

// lastChangeScripts are interleavings of two sessions' statements whose Exec results and
// last_insert_rowid() and changes() must be what two plain mattn connections give.
var lastChangeScripts = map[string][]sessionStep{
	"rowids of two tables that coincide": {
		{"a", "INSERT INTO a(v) VALUES ('x')"}, {"b", "INSERT INTO b(v) VALUES ('y')"},
		{"b", "SELECT last_insert_rowid(), changes()"}, {"a", "SELECT last_insert_rowid(), changes()"},
		{"a", "INSERT INTO a(v) VALUES ('x2')"}, {"b", "INSERT INTO b(v) VALUES ('y2')"},
		{"a", "SELECT last_insert_rowid(), 0"}, {"b", "SELECT last_insert_rowid(), 0"},
	},
	"a failed insert sets changes to 0": {
		{"a", "INSERT INTO a(v) VALUES ('1'), ('2'), ('3')"}, {"b", "UPDATE a SET v = v || '+'"}, {"a", "UPDATE a SET v = v WHERE id > 100"},
		{"b", "INSERT INTO a(id, v) VALUES (1, 'dup')"}, {"b", "SELECT changes(), last_insert_rowid()"},
		{"a", "SELECT changes(), 0"},
	},
	"a script without DML leaves the values": {
		{"b", "UPDATE a SET v = v || '+'"}, {"a", "INSERT INTO b(v) VALUES ('z')"},
		{"b", "CREATE TABLE n(x); CREATE INDEX nx ON n(x)"}, {"b", "SELECT changes(), last_insert_rowid()"},
		{"a", "SELECT changes(), last_insert_rowid()"},
	},
	"WITHOUT ROWID, OR IGNORE and upsert": {
		{"a", "INSERT INTO a(v) VALUES ('x')"}, {"b", "INSERT INTO w(k) VALUES ('k1')"},
		{"b", "SELECT last_insert_rowid(), changes()"},
		{"b", "INSERT OR IGNORE INTO a(id, v) VALUES (1, 'ignored')"}, {"b", "SELECT last_insert_rowid(), changes()"},
		{"a", "INSERT INTO b(v) VALUES ('z')"},
		{"b", "INSERT INTO a(id, v) VALUES (1, 'u') ON CONFLICT(id) DO UPDATE SET v = 'upserted'"},
		{"b", "SELECT last_insert_rowid(), changes()"}, {"a", "SELECT last_insert_rowid(), changes()"},
	},
	"an insert that does not prepare": {
		{"a", "INSERT INTO a(v) VALUES ('1'), ('2'), ('3')"}, {"b", "INSERT INTO b(v) VALUES ('y')"},
		{"a", "INSERT INTO a(nosuch) VALUES (1)"}, {"a", "SELECT changes(), last_insert_rowid()"},
		{"b", "UPDATE b SET v = v"}, {"a", "INSERT INTO missing VALUES (1)"},
		{"a", "SELECT changes(), last_insert_rowid()"},
	},
	"WITH ... UPDATE whose trigger inserts": {
		{"a", "CREATE TABLE log(id INTEGER PRIMARY KEY, note)"},
		{"a", "CREATE TRIGGER a_upd AFTER UPDATE ON a BEGIN INSERT INTO log(note) VALUES ('u'); END"},
		{"a", "INSERT INTO a(v) VALUES ('1'), ('2'), ('3')"}, {"b", "INSERT INTO b(v) VALUES ('y')"},
		{"a", "WITH k(id) AS (SELECT 1) UPDATE a SET v = 'x' WHERE id IN (SELECT id FROM k)"},
		{"a", "SELECT last_insert_rowid(), changes()"}, {"b", "SELECT last_insert_rowid(), changes()"},
	},
	"a session that moves to a connection of its own keeps its values": {
		{"a", "INSERT INTO a(v) VALUES ('1'), ('2'), ('3')"}, {"b", "INSERT INTO b(v) VALUES ('y')"},
		{"a", "CREATE TEMP TABLE ta(x)"}, {"a", "SELECT last_insert_rowid(), changes()"},
		{"a", "UPDATE a SET v = v WHERE id > 100"}, {"a", "SELECT last_insert_rowid(), changes()"},
		{"a", "INSERT INTO ta VALUES (1), (2)"}, {"a", "SELECT last_insert_rowid(), changes()"},
		{"b", "SELECT last_insert_rowid(), changes()"},
	},
	"changes() read in the statement and in a script": {
		{"a", "INSERT INTO a(v) VALUES ('1'), ('2'), ('3')"}, {"b", "INSERT INTO b(v) VALUES ('y')"},
		{"a", "INSERT INTO b(v) SELECT changes()"}, {"a", "SELECT last_insert_rowid(), changes()"},
		{"b", "UPDATE a SET v = v"}, {"a", "SELECT (SELECT changes()), (SELECT count(*) FROM b)"},
	},
	"a view with an INSTEAD OF trigger": {
		{"a", "INSERT INTO a(v) VALUES ('x')"}, {"b", "INSERT INTO b(v) VALUES ('y')"},
		{"a", "INSERT INTO bv(v) VALUES ('through the view')"}, {"a", "SELECT last_insert_rowid(), changes()"},
		{"b", "SELECT last_insert_rowid(), changes()"},
	},
}

const lastChangeSchema = `CREATE TABLE a(id INTEGER PRIMARY KEY, v);
CREATE TABLE b(id INTEGER PRIMARY KEY, v);
CREATE TABLE w(k TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE VIEW bv AS SELECT v FROM b;
CREATE TRIGGER bv_insert INSTEAD OF INSERT ON bv BEGIN INSERT INTO b(v) VALUES (NEW.v); END;`

// runSessionSteps runs steps on two connections of db and returns one line of results for
// each: an Exec's LastInsertId, RowsAffected or error code, a query's row.
func runSessionSteps(t *testing.T, db *sql.DB, steps []sessionStep) []string {
	t.Helper()
	mustExec(t, db, lastChangeSchema)
	conns := map[string]*sql.Conn{}
	for _, name := range []string{"a", "b"} {
		c, err := db.Conn(background)
		require.NoError(t, err)
		defer c.Close()
		conns[name] = c
	}
	var out []string
	for _, st := range steps {
		c := conns[st.session]
		if len(st.sql) > 6 && st.sql[:6] == "SELECT" {
			var x, y any
			require.NoError(t, c.QueryRowContext(background, st.sql).Scan(&x, &y), st.sql)
			out = append(out, fmt.Sprintf("%s %s: %v %v", st.session, st.sql, x, y))
			continue
		}
		res, err := c.ExecContext(background, st.sql)
		if err != nil {
			var e sqlite3.Error
			require.True(t, errors.As(err, &e), "%s: %v", st.sql, err)
			out = append(out, fmt.Sprintf("%s %s: error %d", st.session, st.sql, e.ExtendedCode))
			continue
		}
		id, _ := res.LastInsertId()
		n, _ := res.RowsAffected()
		out = append(out, fmt.Sprintf("%s %s: id %d, rows %d", st.session, st.sql, id, n))
	}
	return out
}

// TestLastChangesPerSession runs interleavings of two sessions through plain mattn, on two
// connections, and through the driver, where both share the writer connection: every Exec
// result and every last_insert_rowid() and changes() must be the same.
func TestLastChangesPerSession(t *testing.T) {
	for name, steps := range lastChangeScripts {
		t.Run(name, func(t *testing.T) {
			plain, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "plain.db"))
			require.NoError(t, err)
			defer plain.Close()
			want := runSessionSteps(t, plain, steps)
			db, _ := openDB(t, "")
			require.Equal(t, want, runSessionSteps(t, db, steps))
		})
	}
}
