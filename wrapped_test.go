//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"path/filepath"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// wrapConnector wraps a connector the way tracing and metrics wrappers do: its connections
// hide the driver's type and every interface but driver.Conn's own, and Close is passed on.
type wrapConnector struct {
	driver.Connector
}

func (w wrapConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := w.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return wrapConn{c}, nil
}

func (w wrapConnector) Close() error {
	if c, ok := w.Connector.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// wrapConn is a connection that offers Prepare, Close and Begin alone.
type wrapConn struct {
	driver.Conn
}

// wrapDriver wraps the driver itself, as otelsql.Open does: OpenConnector is passed on and
// its connector wrapped.
type wrapDriver struct {
	inner *Driver
}

func (d wrapDriver) Open(string) (driver.Conn, error) {
	panic("database/sql calls OpenConnector")
}

func (d wrapDriver) OpenConnector(dsn string) (driver.Connector, error) {
	cn, err := d.inner.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return wrapConnector{cn}, nil
}

func init() {
	sql.Register("sqlite-serial-wrapped-test", wrapDriver{defaultDriver})
}

// TestStatsAndWithWriterThroughAWrapper opens the driver through a wrapped connector and
// through a wrapped driver: StatsOf and WithWriter find the connector behind the wrapper,
// and Close through the wrapper checkpoints the WAL and closes every physical connection.
func TestStatsAndWithWriterThroughAWrapper(t *testing.T) {
	for _, how := range []string{"connector", "driver"} {
		t.Run(how, func(t *testing.T) {
			before := openPhysical.Load()
			path := filepath.Join(t.TempDir(), "w.db")
			var db *sql.DB
			if how == "connector" {
				cn, err := NewConnector(&Config{DSN: path})
				require.NoError(t, err)
				db = sql.OpenDB(wrapConnector{cn})
			} else {
				var err error
				db, err = sql.Open("sqlite-serial-wrapped-test", path)
				require.NoError(t, err)
			}
			mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)")
			require.EqualValues(t, 2, queryInt(t, db, "SELECT count(*) FROM t"))

			s, err := StatsOf(db)
			require.NoError(t, err, "StatsOf through the wrapper")
			require.GreaterOrEqual(t, s.WriterUnits, uint64(3))
			require.Positive(t, s.ReadRoutes)
			var ran bool
			require.NoError(t, WithWriter(background, db, func(c *sqlite3.SQLiteConn) error {
				ran = true
				_, err := c.Exec("INSERT INTO t VALUES (3)", nil)
				return err
			}))
			require.True(t, ran)
			require.Greater(t, walSize(path+"-wal"), int64(0))

			require.NoError(t, db.Close())
			require.Equal(t, before, openPhysical.Load(), "Close through the wrapper closed every physical connection")
			require.Zero(t, walSize(path+"-wal"), "Close through the wrapper checkpointed the WAL")
		})
	}
}

// TestStatsOfAnotherDriverNamesIt checks the error for a *sql.DB of another driver: the
// probe that finds a wrapped connector names none there.
func TestStatsOfAnotherDriverNamesIt(t *testing.T) {
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = StatsOf(db)
	require.ErrorContains(t, err, "*sqlite3.SQLiteConn, which is neither sqlite-serial nor a wrapper of it")
}
