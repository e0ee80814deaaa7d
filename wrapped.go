//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"
)

// A *sql.DB opened through a wrapper of this driver (otelsql, a tracing or metrics
// Connector of the program's own) hands database/sql's Raw the wrapper's connection, not
// the driver's. StatsOf and WithWriter find the connector behind it all the same by
// asking the connection: connectorProbe, sent as a query, is answered by the driver's own
// connection with its connector's number, without a call into SQLite, and wrappers pass a
// query through as it is. Any other driver answers 0, which names no connector.

// connectorProbe is the query a session of this driver answers with its connector's
// number.
const connectorProbe = "SELECT 0 /* sqlite-serial: connector */"

// connectors maps each connector's number to the connector, for as long as it is open
// and reachable. connectorNumbers numbers them from 1.
var (
	connectors       sync.Map // uint64 -> weak.Pointer[Connector]
	connectorNumbers atomic.Uint64
)

// register numbers cn and makes connectorByNumber find it until it closes or is collected.
func (cn *Connector) register() {
	cn.number = connectorNumbers.Add(1)
	connectors.Store(cn.number, weak.Make(cn))
	runtime.AddCleanup(cn, func(n uint64) { connectors.Delete(n) }, cn.number)
}

// connectorByNumber returns the open connector numbered n.
func connectorByNumber(n uint64) *Connector {
	v, ok := connectors.Load(n)
	if !ok {
		return nil
	}
	return v.(weak.Pointer[Connector]).Value()
}

// probeRows is the answer to connectorProbe: one row, one column, the connector's number.
type probeRows struct {
	number int64
	done   bool
}

func (r *probeRows) Columns() []string { return []string{"connector"} }
func (r *probeRows) Close() error      { return nil }
func (r *probeRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	dest[0], r.done = r.number, true
	return nil
}

// resolved caches the connector found behind each *sql.DB, for as long as the *sql.DB is
// reachable: after the first call, StatsOf (a metrics scrape) and WithWriter need no
// connection of db's pool, which may all be in use (by transactions, at SetMaxOpenConns).
var resolved sync.Map // weak.Pointer[sql.DB] -> *Connector

// connectorOf returns the connector behind db, whether db's connections are the driver's
// own or a wrapper's of them.
func connectorOf(db *sql.DB) (*Connector, error) {
	key := weak.Make(db)
	if v, ok := resolved.Load(key); ok {
		cn := v.(*Connector)
		if cn.closed.Load() {
			return nil, ErrClosed
		}
		return cn, nil
	}
	cn, err := findConnector(db)
	if err != nil {
		return nil, err
	}
	if _, loaded := resolved.LoadOrStore(key, cn); !loaded {
		runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) { resolved.Delete(k) }, key)
	}
	return cn, nil
}

// findConnector asks db's pool for a connection and finds the connector behind it.
func findConnector(db *sql.DB) (*Connector, error) {
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var cn *Connector
	var wrapper string
	if err := c.Raw(func(dc any) error {
		if sc, ok := dc.(*conn); ok {
			cn = sc.cn
		}
		wrapper = fmt.Sprintf("%T", dc)
		return nil
	}); err != nil {
		return nil, err
	}
	if cn != nil {
		return cn, nil
	}
	var n int64
	err = c.QueryRowContext(ctx, connectorProbe).Scan(&n)
	if err == nil && n > 0 {
		if cn := connectorByNumber(uint64(n)); cn != nil {
			return cn, nil
		}
		return nil, ErrClosed // numbered, but closed or collected
	}
	msg := "sqliteserial: the database's driver is " + wrapper + ", which is neither sqlite-serial nor a wrapper of it that passes queries through"
	if err != nil {
		return nil, fmt.Errorf("%s (the probe failed: %w)", msg, err)
	}
	return nil, errors.New(msg)
}
