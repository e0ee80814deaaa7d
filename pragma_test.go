//go:build cgo

package sqliteserial

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// probedDriver returns a mattn driver whose every connection has two functions for tests:
// pragma_value(name), which reports the pragma as that very connection has it, and
// rendezvous(), which returns when as many calls as the current rendezvous wants are
// inside it at once, so that a test can make every reader answer.
func probedDriver(meet *atomic.Pointer[rendezvous]) *sqlite3.SQLiteDriver {
	return &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if err := c.RegisterFunc("pragma_value", func(name string) (string, error) {
			return pragmaValue(c, name)
		}, false); err != nil {
			return err
		}
		return c.RegisterFunc("rendezvous", func() (int64, error) { return meet.Load().meet() }, false)
	}}
}

// pragmaValue reads PRAGMA name on c, from inside a statement running on c.
func pragmaValue(c *sqlite3.SQLiteConn, name string) (string, error) {
	rows, err := c.Query("PRAGMA "+name, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return "", err
	}
	return fmt.Sprint(dest[0]), nil
}

// TestPragmaSettingReachesEveryConnection checks that a pragma set through *sql.DB applies
// to the writer, to every reader and to session connections, those open already and those
// opened afterwards; and that each reports and enforces it.
func TestPragmaSettingReachesEveryConnection(t *testing.T) {
	for _, tc := range []struct{ set, name, want string }{
		{"PRAGMA foreign_keys = ON", "foreign_keys", "1"},
		{"PRAGMA case_sensitive_like = 1", "", ""},
		{"PRAGMA recursive_triggers = ON", "recursive_triggers", "1"},
		{"PRAGMA cache_size = -1234", "cache_size", "-1234"},
		{"PRAGMA busy_timeout = 4321", "busy_timeout", "4321"},
		{"PRAGMA automatic_index = OFF", "automatic_index", "0"},
		{"pragma main.TEMP_STORE(2)", "temp_store", "2"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			var meet atomic.Pointer[rendezvous]
			meet.Store(newRendezvous(2))
			db, _ := openConnector(t, &Config{DSN: t.TempDir() + "/p.db", Readers: 4, Driver: probedDriver(&meet)})
			mustExec(t, db, "CREATE TABLE parent(id INTEGER PRIMARY KEY)",
				"CREATE TABLE child(p INTEGER REFERENCES parent(id))")
			concurrentReads(t, db, 2, "SELECT rendezvous()") // two readers open before the setting
			before := session(t, db)
			mustExec(t, before, "CREATE TEMP TABLE own(x)") // a session connection open before

			mustExec(t, db, tc.set)

			after := session(t, db)
			mustExec(t, after, "CREATE TEMP TABLE own(x)") // one opened after
			meet.Store(newRendezvous(4))
			probe := "SELECT 'A' LIKE 'a', rendezvous()"
			if tc.name != "" {
				probe = "SELECT pragma_value('" + tc.name + "'), rendezvous()"
			}
			want := tc.want
			if tc.name == "" {
				want = "0" // case-sensitive LIKE
			}
			for _, got := range concurrentStrings(t, db, 4, probe) {
				require.Equal(t, want, got, "on a reader")
			}
			require.Equal(t, 4, stats(t, db).ReadersOpen, "two readers were opened after the setting")
			connections := []queryer{db, before, after}
			if tc.name == "temp_store" {
				// Changing temp_store drops a connection's temp objects: a session
				// connection in use keeps its own (TestTempStoreSettingKeepsOtherSessionsTempTables).
				connections = []queryer{db, after}
			}
			for _, c := range connections {
				var got string
				require.NoError(t, c.QueryRowContext(background, strings.Replace(probe, ", rendezvous()", "", 1)).Scan(&got))
				require.Equal(t, want, got, "on the writer or a session connection")
			}
			if tc.name == "foreign_keys" {
				for _, c := range []execer{db, before, after} {
					_, err := c.ExecContext(background, "INSERT INTO child VALUES (42)")
					var e sqlite3.Error
					require.ErrorAs(t, err, &e)
					require.Equal(t, sqlite3.ErrConstraintForeignKey, e.ExtendedCode)
				}
			}
		})
	}
}

// concurrentStrings runs query n times at once on db and returns the first column of each.
func concurrentStrings(t *testing.T, db *sql.DB, n int, query string) []string {
	t.Helper()
	out := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var ignored any
			errs <- db.QueryRow(query).Scan(&out[i], &ignored)
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	return out
}

// TestQueryOnlyIsNotSpreadToReaders checks that query_only set through *sql.DB applies to
// the writer, while readers stay query-only whatever it says.
func TestQueryOnlyIsNotSpreadToReaders(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/q.db"})
	mustExec(t, db, "CREATE TABLE t(v)", "PRAGMA query_only = ON")
	_, err := db.Exec("INSERT INTO t VALUES (1)")
	var e sqlite3.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, sqlite3.ErrReadonly, e.Code)
	mustExec(t, db, "PRAGMA query_only = OFF", "INSERT INTO t VALUES (1)")

	queryInt(t, db, "SELECT count(*) FROM t") // the reader catches up with the settings
	r, err := cn.readers.get(background, false)
	require.NoError(t, err)
	defer cn.readers.put(r, false, true)
	require.NoError(t, cn.pragmas.sync(r))
	_, err = r.ExecContext(background, "INSERT INTO t VALUES (2)", nil)
	require.ErrorAs(t, err, &e)
	require.Equal(t, sqlite3.ErrReadonly, e.Code)
}

// TestPragmaSettingInATransactionStaysThere checks that a setting made inside a
// transaction applies to its connection only.
func TestPragmaSettingInATransactionStaysThere(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/x.db"})
	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx, "PRAGMA cache_size = -777")
	require.NoError(t, tx.Commit())
	require.Zero(t, cn.pragmas.gen.Load())
}

// TestPragmaSettingWaitsForATransactionToEnd checks a connection that is inside a
// transaction when a setting is made elsewhere: it catches up after the transaction, not
// inside it, where SQLite ignores foreign_keys and refuses synchronous.
func TestPragmaSettingWaitsForATransactionToEnd(t *testing.T) {
	db, _ := openDB(t, "")
	mustExec(t, db, "CREATE TABLE p(id INTEGER PRIMARY KEY)", "CREATE TABLE c(pid INTEGER REFERENCES p(id))")
	session := session(t, db)
	mustExec(t, session, "CREATE TEMP TABLE mine(x)") // a session connection of its own

	onSession, err := session.BeginTx(background, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	defer onSession.Rollback()
	onReader, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	defer onReader.Rollback()
	mustExec(t, db, "PRAGMA foreign_keys = ON", "PRAGMA synchronous = FULL")
	for _, tx := range []*sql.Tx{onSession, onReader} {
		require.EqualValues(t, 0, queryInt(t, tx, "SELECT count(*) FROM p"), "a statement inside the transaction runs")
		require.NoError(t, tx.Commit())
	}

	require.EqualValues(t, 1, queryInt(t, session, "PRAGMA foreign_keys"), "the session connection caught up after its transaction")
	require.EqualValues(t, 2, queryInt(t, session, "PRAGMA synchronous"))
	for _, c := range []execer{db, session} {
		_, err := c.ExecContext(background, "INSERT INTO c VALUES (42)")
		var e sqlite3.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, sqlite3.ErrConstraintForeignKey, e.ExtendedCode)
	}
}

// TestTempStoreSettingKeepsOtherSessionsTempTables checks that PRAGMA temp_store, which
// drops a connection's temp objects when it changes, does not reach the session
// connections already in use: their temp tables stay, as they would with each session on a
// connection of its own. Connections opened afterwards do get it.
func TestTempStoreSettingKeepsOtherSessionsTempTables(t *testing.T) {
	db, _ := openDB(t, "")
	before := session(t, db)
	mustExec(t, before, "CREATE TEMP TABLE mine(x)", "INSERT INTO mine VALUES (1)")

	mustExec(t, db, "PRAGMA temp_store = MEMORY")
	require.EqualValues(t, 1, queryInt(t, before, "SELECT count(*) FROM mine"))
	require.EqualValues(t, 2, queryInt(t, db, "PRAGMA temp_store"), "the writer has it")

	after := session(t, db)
	mustExec(t, after, "CREATE TEMP TABLE mine(x)")
	require.EqualValues(t, 2, queryInt(t, after, "PRAGMA temp_store"), "a session connection opened afterwards has it")
}
