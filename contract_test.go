//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// TestSameInterfacesAsMattn checks that the driver's connections, statements and rows offer
// database/sql every optional interface of the context era that mattn's do, and none that
// would change its behaviour: what database/sql does depends on which interfaces a driver
// implements. (mattn's connections also have the legacy driver.Execer and driver.Queryer,
// which database/sql uses only without ExecerContext and QueryerContext.)
func TestSameInterfacesAsMattn(t *testing.T) {
	optional := []reflect.Type{
		reflect.TypeFor[driver.Pinger](), reflect.TypeFor[driver.ExecerContext](), reflect.TypeFor[driver.QueryerContext](),
		reflect.TypeFor[driver.ConnPrepareContext](), reflect.TypeFor[driver.ConnBeginTx](), reflect.TypeFor[driver.NamedValueChecker](),
		reflect.TypeFor[driver.StmtExecContext](), reflect.TypeFor[driver.StmtQueryContext](), reflect.TypeFor[driver.ColumnConverter](),
		reflect.TypeFor[driver.RowsColumnTypeDatabaseTypeName](), reflect.TypeFor[driver.RowsColumnTypeLength](),
		reflect.TypeFor[driver.RowsColumnTypeNullable](), reflect.TypeFor[driver.RowsColumnTypePrecisionScale](),
		reflect.TypeFor[driver.RowsColumnTypeScanType](), reflect.TypeFor[driver.RowsNextResultSet](),
	}
	pairs := map[reflect.Type]reflect.Type{
		reflect.TypeFor[*conn]():        reflect.TypeFor[*sqlite3.SQLiteConn](),
		reflect.TypeFor[*stmt]():        reflect.TypeFor[*sqlite3.SQLiteStmt](),
		reflect.TypeFor[*rows]():        reflect.TypeFor[*sqlite3.SQLiteRows](),
		reflect.TypeFor[*settledRows](): reflect.TypeFor[*sqlite3.SQLiteRows](),
		reflect.TypeFor[*tx]():          reflect.TypeFor[*sqlite3.SQLiteTx](),
		reflect.TypeFor[*Driver]():      reflect.TypeFor[*sqlite3.SQLiteDriver](),
	}
	for ours, theirs := range pairs {
		for _, iface := range optional {
			require.Equal(t, theirs.Implements(iface), ours.Implements(iface), "%v and %v differ on %v", ours, theirs, iface)
		}
	}
	// Beyond mattn: the two that let database/sql keep a connection whose transaction's
	// context ended, and the ones a connector needs.
	require.True(t, reflect.TypeFor[*conn]().Implements(reflect.TypeFor[driver.SessionResetter]()))
	require.True(t, reflect.TypeFor[*conn]().Implements(reflect.TypeFor[driver.Validator]()))
	require.True(t, reflect.TypeFor[*Driver]().Implements(reflect.TypeFor[driver.DriverContext]()))
}

// TestBadConnOnlyWhenNothingRan checks the driver.ErrBadConn contract: it is returned only
// by a connection that was closed, before anything runs, so database/sql may retry on
// another; every failure of a statement that may have run is its own error.
func TestBadConnOnlyWhenNothingRan(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/b.db", QueryTimeout: 50 * time.Millisecond})
	mustExec(t, db, "CREATE TABLE t(v)")
	dc, err := cn.Connect(background)
	require.NoError(t, err)
	c := dc.(*conn)
	require.NoError(t, c.Close())
	_, err = c.ExecContext(background, "INSERT INTO t VALUES (1)", nil)
	require.ErrorIs(t, err, driver.ErrBadConn)
	_, err = c.QueryContext(background, "SELECT * FROM t", nil)
	require.ErrorIs(t, err, driver.ErrBadConn)
	_, err = c.BeginTx(background, driver.TxOptions{})
	require.ErrorIs(t, err, driver.ErrBadConn)
	require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t"), "nothing ran")

	for _, failing := range []string{
		"INSERT INTO t VALUES (1), (2); INSERT INTO nowhere VALUES (3)",
		"INSERT INTO t " + runawayWrite[len("INSERT INTO t(v) "):],
	} {
		_, err := db.Exec(failing)
		require.Error(t, err)
		require.False(t, errors.Is(err, driver.ErrBadConn), "%v", err)
	}
	require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t"),
		"the script's first statement ran once: database/sql did not retry it on another connection")
}

// TestCancelledTransactionKeepsItsConnection checks what SessionResetter and Validator buy:
// database/sql keeps a connection whose transaction's context ended, instead of closing it.
func TestCancelledTransactionKeepsItsConnection(t *testing.T) {
	db, _ := openDB(t, "")
	db.SetMaxOpenConns(1)
	mustExec(t, db, "CREATE TABLE t(v)")
	identity := func() *conn {
		var c *conn
		sc, err := db.Conn(background)
		require.NoError(t, err)
		defer sc.Close()
		require.NoError(t, sc.Raw(func(dc any) error { c = dc.(*conn); return nil }))
		return c
	}
	before := identity()
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t VALUES (1)")
	cancel()
	require.Same(t, before, identity(), "the same connection, rolled back and reused")
	require.EqualValues(t, 0, queryInt(t, db, "SELECT count(*) FROM t"))
}

// TestConnectorIsClosedByDBClose checks the io.Closer contract: (*sql.DB).Close closes the
// connector, which then refuses connections.
func TestConnectorIsClosedByDBClose(t *testing.T) {
	cn, err := NewConnector(&Config{DSN: t.TempDir() + "/c.db"})
	require.NoError(t, err)
	db := sql.OpenDB(cn)
	require.NoError(t, db.Ping())
	require.NoError(t, db.Close())
	_, err = cn.Connect(background)
	require.ErrorIs(t, err, ErrClosed)
}
