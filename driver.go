//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"database/sql/driver"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// DriverName is the name the driver registers with database/sql.
const DriverName = "sqlite-serial"

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.DriverContext = (*Driver)(nil)
)

// Driver is the database/sql driver registered as "sqlite-serial". Its zero value opens
// physical connections with a plain *sqlite3.SQLiteDriver; register another with SQLite set
// to have a ConnectHook or Extensions on every connection:
//
//	sql.Register("sqlite-serial-hooked", &sqliteserial.Driver{SQLite: &sqlite3.SQLiteDriver{
//		ConnectHook: func(c *sqlite3.SQLiteConn) error { return c.RegisterFunc("f", f, true) },
//	}})
type Driver struct {
	// SQLite opens the physical connections; nil means a plain *sqlite3.SQLiteDriver.
	SQLite *sqlite3.SQLiteDriver
}

var defaultDriver = &Driver{}

func init() {
	sql.Register(DriverName, defaultDriver)
}

// OpenConnector implements driver.DriverContext; sql.Open calls it once per *sql.DB. An
// invalid _serial_ key or value is an error here, so sql.Open returns it.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.Driver = d.SQLite
	cn, err := NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	cn.driver = d
	return cn, nil
}

// Open implements driver.Driver. database/sql does not call it, since the driver
// implements driver.DriverContext. A caller that does gets a connection with a writer and
// readers of its own, all closed when it closes.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	dc, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	cn := dc.(*Connector)
	c, err := cn.Connect(context.Background())
	if err != nil {
		cn.Close()
		return nil, err
	}
	c.(*conn).ownsConnector = true
	return c, nil
}
