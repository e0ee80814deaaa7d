//go:build !cgo

package sqliteserial

// Without cgo there is no SQLite: mattn/go-sqlite3 then builds a stand-in whose every
// connection fails with its message ("Binary was compiled with 'CGO_ENABLED=0',
// go-sqlite3 requires cgo to work"). This file is the driver's: a program that imports the
// driver builds as one that imports mattn alone does, and its first connection (Ping, or the
// first statement) fails with mattn's own error.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// DriverName is the name the driver registers with database/sql.
const DriverName = "sqlite-serial"

// Driver is the database/sql driver registered as "sqlite-serial"; without cgo its
// connections fail with mattn/go-sqlite3's error.
type Driver struct {
	// SQLite opens the physical connections; nil means a plain *sqlite3.SQLiteDriver.
	SQLite *sqlite3.SQLiteDriver
}

func init() {
	sql.Register(DriverName, &Driver{})
}

// Open implements driver.Driver: it returns mattn/go-sqlite3's error.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	return (&sqlite3.SQLiteDriver{}).Open(dsn)
}

// OpenConnector implements driver.DriverContext. An invalid _serial_ key is an error here,
// as with cgo.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.Driver = d.SQLite
	return NewConnector(cfg)
}

// Connector stands for the topology behind one *sql.DB; without cgo its connections fail.
type Connector struct {
	cfg Config
}

// NewConnector returns a connector for cfg, which it copies.
func NewConnector(cfg *Config) (*Connector, error) {
	if cfg == nil {
		return nil, errors.New("sqliteserial: NewConnector: nil Config")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Connector{cfg: *cfg}, nil
}

// Connect implements driver.Connector: it returns mattn/go-sqlite3's error.
func (cn *Connector) Connect(context.Context) (driver.Conn, error) {
	return (&sqlite3.SQLiteDriver{}).Open(cn.cfg.DSN)
}

// Driver implements driver.Connector.
func (cn *Connector) Driver() driver.Driver { return &Driver{SQLite: cn.cfg.Driver} }

// Close implements io.Closer; there is nothing to close.
func (cn *Connector) Close() error { return nil }

// Stats returns zeros: nothing ever runs.
func (cn *Connector) Stats() Stats { return Stats{} }

// WithWriter returns mattn/go-sqlite3's error: there is no writer.
func (cn *Connector) WithWriter(context.Context, func(c *sqlite3.SQLiteConn) error) error {
	_, err := cn.Connect(context.Background())
	return err
}

// WithWriter returns mattn/go-sqlite3's error: there is no writer.
func WithWriter(ctx context.Context, db *sql.DB, fn func(c *sqlite3.SQLiteConn) error) error {
	return db.PingContext(ctx)
}

// connectorOf returns the connector behind db: without cgo, the first connection's error.
func connectorOf(db *sql.DB) (*Connector, error) {
	return nil, db.Ping()
}
