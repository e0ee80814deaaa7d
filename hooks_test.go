//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"strings"
	"sync/atomic"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// hookedDriver registers, on every connection, a Go function shout(s) and a collation
// "reverse" that orders strings backwards, and counts the connections it prepared.
func hookedDriver(connections *atomic.Int64) *sqlite3.SQLiteDriver {
	return &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		connections.Add(1)
		if err := c.RegisterFunc("shout", func(s string) string { return strings.ToUpper(s) + "!" }, true); err != nil {
			return err
		}
		return c.RegisterCollation("reverse", func(a, b string) int { return strings.Compare(b, a) })
	}}
}

var registeredHooks atomic.Int64

func init() {
	sql.Register("sqlite-serial-hooked-test", &Driver{SQLite: hookedDriver(&registeredHooks)})
}

// TestConnectHookOnEveryConnection checks that a user's function and collation work
// wherever a statement runs: readers, the writer, transactions of both kinds, and session
// connections; through NewConnector and through a registered Driver.
func TestConnectHookOnEveryConnection(t *testing.T) {
	var counted atomic.Int64
	viaConnector, _ := openConnector(t, &Config{DSN: t.TempDir() + "/h.db", Driver: hookedDriver(&counted)})
	viaRegister, err := sql.Open("sqlite-serial-hooked-test", t.TempDir()+"/r.db")
	require.NoError(t, err)
	defer viaRegister.Close()

	for name, db := range map[string]*sql.DB{"NewConnector": viaConnector, "sql.Register": viaRegister} {
		t.Run(name, func(t *testing.T) {
			mustExec(t, db, "CREATE TABLE t(v TEXT COLLATE reverse)")
			got := routesOf(t, db, func() {
				mustExec(t, db, "INSERT INTO t VALUES (shout('a')), (shout('b')), (shout('c'))")
			})
			require.Equal(t, routes{writer: 1}, got)
			var order string
			got = routesOf(t, db, func() {
				require.NoError(t, db.QueryRow("SELECT group_concat(shout(v), ',') FROM (SELECT v FROM t ORDER BY v)").Scan(&order))
			})
			require.Equal(t, routes{reader: 1}, got, "the read ran on a reader")
			require.Equal(t, "C!!,B!!,A!!", order)

			tx, err := db.Begin()
			require.NoError(t, err)
			mustExec(t, tx, "UPDATE t SET v = shout(v) WHERE v = 'A!'")
			require.NoError(t, tx.QueryRow("SELECT min(v) FROM t").Scan(&order))
			require.Equal(t, "C!", order, "min under the reverse collation")
			require.NoError(t, tx.Commit())

			ro, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			require.NoError(t, ro.QueryRow("SELECT shout(max(v)) FROM t").Scan(&order))
			require.Equal(t, "A!!!", order)
			require.NoError(t, ro.Commit())

			c := session(t, db)
			mustExec(t, c, "CREATE TEMP TABLE mine(v TEXT COLLATE reverse)", "INSERT INTO mine VALUES (shout('x')), (shout('y'))")
			require.NoError(t, c.QueryRowContext(background, "SELECT group_concat(v) FROM (SELECT v FROM mine ORDER BY v)").Scan(&order))
			require.Equal(t, "Y!,X!", order)
		})
	}
	require.Greater(t, counted.Load(), int64(2), "the hook ran on the writer, the readers, the classifier and the session connection")
	require.Greater(t, registeredHooks.Load(), int64(2))
}

// TestWithWriterGivesExclusiveAccess checks the escape hatch: it waits for the writer like
// any unit of work, honouring its context, and hands over mattn's connection, here for the
// backup API.
func TestWithWriterGivesExclusiveAccess(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/w.db"})
	mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (1), (2), (3)")
	events := queued(t, cn)

	tx, err := db.Begin()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	called := false
	go func() {
		done <- WithWriter(ctx, db, func(*sqlite3.SQLiteConn) error { called = true; return nil })
	}()
	receive(t, events)
	cancel()
	require.ErrorIs(t, receive(t, done), context.Canceled)
	require.False(t, called, "fn never runs when the wait fails")
	require.NoError(t, tx.Rollback())

	backupPath := t.TempDir() + "/backup.db"
	dest, err := (&sqlite3.SQLiteDriver{}).Open(backupPath)
	require.NoError(t, err)
	defer dest.Close()
	err = WithWriter(background, db, func(c *sqlite3.SQLiteConn) error {
		b, err := dest.(*sqlite3.SQLiteConn).Backup("main", c, "main")
		if err != nil {
			return err
		}
		if _, err := b.Step(-1); err != nil {
			return err
		}
		return b.Finish()
	})
	require.NoError(t, err)
	copied, err := sql.Open("sqlite3", backupPath)
	require.NoError(t, err)
	defer copied.Close()
	require.EqualValues(t, 3, queryInt(t, copied, "SELECT count(*) FROM t"))

	err = WithWriter(background, db, func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("BEGIN; INSERT INTO t VALUES (4)", nil)
		return err
	})
	require.ErrorContains(t, err, "left a transaction open")
	require.EqualValues(t, 3, queryInt(t, db, "SELECT count(*) FROM t"))
	mustExec(t, db, "INSERT INTO t VALUES (5)") // the writer is free and usable
}
