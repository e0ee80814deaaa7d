package sqliteserial

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

var (
	_ driver.Connector = (*Connector)(nil)
	_ io.Closer        = (*Connector)(nil)
)

// Connector is the topology behind one *sql.DB: one writer connection, a pool of reader
// connections, and the router that sends each statement to one of them. Open it with
// NewConnector and sql.OpenDB, or let sql.Open do both.
type Connector struct {
	cfg  Config // a private copy, with defaults resolved
	topo topology
	drv  *sqlite3.SQLiteDriver

	startMu sync.Mutex
	started bool
	closed  atomic.Bool
	writer  *writer // nil for a read-only database
	readers *readerPool
	router  *router

	routes routeCounters
}

// routeCounters count where statements went.
type routeCounters struct {
	reader, writer, pinned, retried atomic.Uint64
}

// NewConnector returns a connector for cfg, which it copies. The database is opened by the
// first connection, so an error in the mattn part of the DSN comes from Ping or the first
// statement.
func NewConnector(cfg *Config) (*Connector, error) {
	if cfg == nil {
		return nil, errors.New("sqliteserial: NewConnector: nil Config")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cn := &Connector{cfg: *cfg, topo: planTopology(cfg.DSN), drv: cfg.Driver}
	if cn.drv == nil {
		cn.drv = &sqlite3.SQLiteDriver{}
	}
	if cn.cfg.WriteWait == 0 {
		cn.cfg.WriteWait = defaultWriteWait
		if cn.topo.busyTimeout > 0 {
			cn.cfg.WriteWait = cn.topo.busyTimeout
		}
	}
	cn.cfg.Readers = cn.cfg.readerCount()
	return cn, nil
}

// Connect implements driver.Connector. The first call opens the writer (setting WAL on a
// file database); readers open later, as reads need them.
func (cn *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := cn.start(); err != nil {
		return nil, err
	}
	return &conn{cn: cn}, nil
}

// Driver implements driver.Connector.
func (cn *Connector) Driver() driver.Driver { return defaultDriver }

// start opens the writer, once, and sets up the readers and the router.
func (cn *Connector) start() error {
	cn.startMu.Lock()
	defer cn.startMu.Unlock()
	if cn.closed.Load() {
		return ErrClosed
	}
	if cn.started {
		return nil
	}
	var g *gate
	if !cn.topo.readOnly {
		wc, wal, err := cn.openWriter()
		if err != nil {
			return err
		}
		if !wal {
			g = newGate(cn.cfg.Readers + 1) // the readers and the classifier
		}
		cn.writer = &writer{limit: cn.cfg.WriteWait, gate: g, open: cn.reopenWriter, conn: wc}
	}
	cn.readers = newReaderPool(cn.cfg.Readers, cn.openReader, g)
	cn.router = newRouter(cn.openReader, g)
	cn.started = true
	return nil
}

// openWriter opens the writer and switches a file database to WAL, unless the DSN chose a
// journal mode. It reports whether the database is in WAL mode.
func (cn *Connector) openWriter() (*sqlite3.SQLiteConn, bool, error) {
	dc, err := cn.drv.Open(cn.topo.writerDSN)
	if err != nil {
		return nil, false, err
	}
	c := dc.(*sqlite3.SQLiteConn)
	pragma := "PRAGMA journal_mode"
	if !cn.topo.memory && !cn.topo.journalChosen {
		pragma = "PRAGMA journal_mode = WAL"
	}
	mode, err := queryText(c, pragma)
	if err != nil {
		c.Close()
		return nil, false, err
	}
	return c, strings.EqualFold(mode, "wal"), nil
}

// reopenWriter replaces a writer connection that broke.
func (cn *Connector) reopenWriter() (*sqlite3.SQLiteConn, error) {
	c, _, err := cn.openWriter()
	return c, err
}

// openReader opens a reader, or the classifier: a connection that cannot write.
func (cn *Connector) openReader() (*sqlite3.SQLiteConn, error) {
	dc, err := cn.drv.Open(cn.topo.readerDSN)
	if err != nil {
		return nil, err
	}
	c := dc.(*sqlite3.SQLiteConn)
	if _, err := c.ExecContext(context.Background(), "PRAGMA query_only = 1", nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("sqliteserial: making a reader query-only: %w", err)
	}
	return c, nil
}

// queryText returns the first column of the first row of query, as text.
func queryText(c *sqlite3.SQLiteConn, query string) (string, error) {
	r, err := c.QueryContext(context.Background(), query, nil)
	if err != nil {
		return "", err
	}
	defer r.Close()
	dest := make([]driver.Value, len(r.Columns()))
	if err := r.Next(dest); err != nil {
		return "", err
	}
	return fmt.Sprint(dest[0]), nil
}

// Close implements io.Closer; (*sql.DB).Close calls it. It refuses new work at once, lets
// the unit of work holding the writer and the readers in use finish for up to the
// write-wait limit, checkpoints the WAL into the database file and closes every physical
// connection. What is still in use at the limit is reported in the error and closed when it
// is released. Close starts no goroutine and leaves none behind.
func (cn *Connector) Close() error {
	cn.startMu.Lock()
	if cn.closed.Swap(true) || !cn.started {
		cn.startMu.Unlock()
		return nil
	}
	cn.startMu.Unlock()
	deadline := time.Now().Add(cn.cfg.WriteWait)
	var errs []error
	if cn.writer != nil {
		errs = append(errs, cn.writer.drain(deadline))
	}
	errs = append(errs, cn.readers.close(deadline))
	cn.router.close()
	if cn.writer != nil {
		errs = append(errs, cn.writer.shutdown(!cn.topo.memory))
	}
	return errors.Join(errs...)
}
