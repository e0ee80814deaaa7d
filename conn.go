package sqliteserial

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	sqlite3 "github.com/mattn/go-sqlite3"
)

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

// conn is one logical connection of database/sql: a session. It owns no physical
// connection of its own; each statement runs on a reader or on the writer, as the router
// and the session's state decide.
//
// database/sql never calls a conn from two goroutines at once (it holds its own lock around
// every call, Rows.Close and Tx.Rollback included), so conn's fields need no lock.
type conn struct {
	cn *Connector

	// holding is set while the session holds the writer. It does so while a write
	// transaction is open (tx, or sqlTx for one begun in SQL) and while rows of a statement
	// on the writer are open (writerRows).
	holding    bool
	writerRows int
	sqlTx      bool
	tx         *tx
	// pinned is set once the session left state on the writer (temp schema, an attached
	// database, a pragma setting): its statements then all run on the writer, until
	// database/sql hands the connection to a new user (ResetSession).
	pinned bool

	// reader is the reader the session uses, while readerRefs > 0: rows are open on it or
	// a read-only transaction runs on it. Further reads of the session share it.
	reader     *sqlite3.SQLiteConn
	readerRefs int

	closed        bool
	ownsConnector bool // opened by Driver.Open: closing the conn closes the connector
}

// call is one statement call: its text, its arguments, and whether it comes from a
// prepared statement, which runs only the first statement of its text, as mattn's do.
type call struct {
	query    string
	args     []driver.NamedValue
	prepared bool
}

// runExec runs the call on p.
func (cl call) runExec(ctx context.Context, p *sqlite3.SQLiteConn) (driver.Result, error) {
	if !cl.prepared {
		return p.ExecContext(ctx, cl.query, cl.args)
	}
	s, err := p.PrepareContext(ctx, cl.query)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.(*sqlite3.SQLiteStmt).ExecContext(ctx, cl.args)
}

// runQuery runs the call on p. For a prepared call it also returns the statement, which
// must be closed after the rows.
func (cl call) runQuery(ctx context.Context, p *sqlite3.SQLiteConn) (*sqlite3.SQLiteRows, driver.Stmt, error) {
	if !cl.prepared {
		r, err := p.QueryContext(ctx, cl.query, cl.args)
		if err != nil {
			return nil, nil, err
		}
		return r.(*sqlite3.SQLiteRows), nil, nil
	}
	s, err := p.PrepareContext(ctx, cl.query)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.(*sqlite3.SQLiteStmt).QueryContext(ctx, cl.args)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return r.(*sqlite3.SQLiteRows), s, nil
}

// placement is where one call runs.
type placement struct {
	conn   *sqlite3.SQLiteConn
	writer bool // the writer, held by the session; else a reader acquired by it
	cls    classification
	// retry is set for a reader chosen by classification: a write that fails there as
	// read-only is run again on the writer.
	retry bool
}

// usable returns the error for a call on a closed session or connector.
func (c *conn) usable() error {
	if c.closed {
		return driver.ErrBadConn
	}
	if c.cn.closed.Load() {
		return ErrClosed
	}
	return nil
}

// place decides where a statement runs and takes that connection for the session.
func (c *conn) place(ctx context.Context, query string) (placement, error) {
	if err := c.usable(); err != nil {
		return placement{}, err
	}
	if t := c.tx; t != nil {
		if t.aborted != nil {
			return placement{}, t.aborted
		}
		if t.readOnly {
			c.cn.routes.pinned.Add(1)
			r, _ := c.acquireReader(ctx) // the transaction holds a reference: never fails
			return placement{conn: r}, nil
		}
	}
	if c.holding {
		// A transaction or open rows hold the writer for the session. The classification
		// still matters for what the statement leaves behind. The classifier needs no share
		// of the gate: the session holds it whole.
		if w := c.cn.writer.conn; w == nil || closedUnderneath(w) {
			return placement{}, errWriterBroke
		}
		cls, err := c.cn.router.classify(ctx, query, false)
		if err != nil {
			return placement{}, err
		}
		c.cn.routes.pinned.Add(1)
		return placement{conn: c.cn.writer.conn, writer: true, cls: cls}, nil
	}
	cls, err := c.cn.router.classify(ctx, query, c.reader == nil)
	if err != nil {
		return placement{}, err
	}
	switch {
	case c.cn.writer == nil:
		// A read-only database: everything runs on a reader, and SQLite refuses writes.
		c.cn.routes.reader.Add(1)
	case c.pinned:
		c.cn.routes.pinned.Add(1)
		return c.placeOnWriter(ctx, cls)
	case cls.route == toWriter:
		c.cn.routes.writer.Add(1)
		return c.placeOnWriter(ctx, cls)
	default:
		c.cn.routes.reader.Add(1)
	}
	r, err := c.acquireReader(ctx)
	if err != nil {
		return placement{}, err
	}
	return placement{conn: r, cls: cls, retry: c.cn.writer != nil}, nil
}

// placeOnWriter takes the writer for one unit of work, waiting in its queue.
func (c *conn) placeOnWriter(ctx context.Context, cls classification) (placement, error) {
	if !c.holding {
		if err := c.cn.writer.acquire(ctx, holdStatement); err != nil {
			return placement{}, err
		}
		c.holding = true
	}
	return placement{conn: c.cn.writer.conn, writer: true, cls: cls}, nil
}

// misrouted reports whether err shows that a statement run on a reader wrote: SQLite
// refused it as read-only, and it is to run again on the writer. The route is remembered.
func (c *conn) misrouted(pl placement, query string, err error) bool {
	var e sqlite3.Error
	if !pl.retry || !errors.As(err, &e) || e.Code != sqlite3.ErrReadonly {
		return false
	}
	c.cn.routes.retried.Add(1)
	cls := pl.cls
	cls.route = toWriter
	c.cn.router.remember(query, cls)
	return true
}

// finish gives back what place took, once the statement (and its rows) are done; err is
// the statement's error.
func (c *conn) finish(pl placement, err error) {
	if pl.writer {
		c.afterWriter(pl.cls, err)
	} else {
		c.releaseReader(err)
	}
}

// afterWriter updates the session after a statement on the writer and releases the writer
// unless the session still needs it.
func (c *conn) afterWriter(cls classification, err error) {
	w := c.cn.writer
	if err != nil {
		w.checkBroken()
	}
	switch {
	case w.conn == nil:
		// The writer broke; whatever transaction it held is gone.
		c.sqlTx = false
		if c.tx != nil && c.tx.aborted == nil {
			c.tx.aborted = fmt.Errorf("%w: %w", ErrTxAborted, errWriterBroke)
		}
	case c.tx != nil:
		if isTimeLimit(err) && c.tx.aborted == nil {
			c.abortTx(err)
		}
	default:
		inTx := !w.conn.AutoCommit()
		if inTx && isTimeLimit(err) {
			// A transaction begun in SQL whose statement ran out of time is rolled back.
			_, rerr := w.conn.ExecContext(context.Background(), "ROLLBACK", nil)
			inTx = rerr != nil
		}
		if inTx && !c.sqlTx {
			w.setKind(holdSQLTransaction)
		}
		c.sqlTx = inTx
	}
	if cls.pins {
		c.pinned = true
	}
	if cls.schema {
		c.cn.router.invalidate()
	}
	c.releaseWriterIfIdle()
}

// releaseWriterIfIdle releases the writer unless an open transaction or open rows of the
// session still need it.
func (c *conn) releaseWriterIfIdle() {
	if !c.holding || c.writerRows > 0 || c.sqlTx || (c.tx != nil && !c.tx.readOnly && c.tx.aborted == nil) {
		return
	}
	c.holding = false
	c.cn.writer.release()
}

// acquireReader returns the session's reader, taking one from the pool unless it uses one
// already. Each call must be matched by releaseReader.
func (c *conn) acquireReader(ctx context.Context) (*sqlite3.SQLiteConn, error) {
	if c.reader != nil {
		c.readerRefs++
		return c.reader, nil
	}
	r, err := c.cn.readers.get(ctx)
	if err != nil {
		return nil, err
	}
	c.reader, c.readerRefs = r, 1
	return r, nil
}

// releaseReader drops one use of the session's reader and gives it back to the pool after
// the last; err is the error of the statement that used it.
func (c *conn) releaseReader(err error) {
	c.readerRefs--
	if c.readerRefs > 0 {
		return
	}
	r := c.reader
	c.reader = nil
	c.cn.readers.put(r, err != nil && closedUnderneath(r))
}

// ExecContext implements driver.ExecerContext.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.exec(ctx, call{query: query, args: args})
}

func (c *conn) exec(ctx context.Context, cl call) (driver.Result, error) {
	var res driver.Result
	pl, err := c.run(ctx, cl.query, func(pl placement) (err error) {
		res, err = c.execAt(ctx, pl, cl)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.finish(pl, nil)
	return res, nil
}

// run places a statement, runs do there and, when a reader refused it as a write, runs it
// again on the writer. When do fails, run gives back what it took; when do succeeds, the
// caller owns the placement and must finish it.
func (c *conn) run(ctx context.Context, query string, do func(placement) error) (placement, error) {
	pl, err := c.place(ctx, query)
	if err != nil {
		return placement{}, err
	}
	err = do(pl)
	if c.misrouted(pl, query, err) {
		c.finish(pl, nil)
		if pl, err = c.placeOnWriter(ctx, pl.cls); err != nil {
			return placement{}, err
		}
		err = do(pl)
	}
	if err != nil {
		c.finish(pl, err)
		return placement{}, err
	}
	return pl, nil
}

// execAt runs the call at pl under the statement's time limit.
func (c *conn) execAt(ctx context.Context, pl placement, cl call) (driver.Result, error) {
	sctx, cancel := c.cn.statementContext(ctx)
	res, err := cl.runExec(sctx, pl.conn)
	cancel()
	return res, c.cn.statementError(ctx, sctx, err)
}

// QueryContext implements driver.QueryerContext.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.query(ctx, call{query: query, args: args})
}

func (c *conn) query(ctx context.Context, cl call) (driver.Rows, error) {
	var r *rows
	if _, err := c.run(ctx, cl.query, func(pl placement) (err error) {
		r, err = c.queryAt(ctx, pl, cl)
		return err
	}); err != nil {
		return nil, err
	}
	return r, nil // the rows finish the placement when they close
}

// queryAt runs the call at pl and returns rows that give pl back when they close.
func (c *conn) queryAt(ctx context.Context, pl placement, cl call) (*rows, error) {
	sctx, cancel := c.cn.statementContext(ctx)
	r, s, err := cl.runQuery(sctx, pl.conn)
	if err != nil {
		cancel()
		return nil, c.cn.statementError(ctx, sctx, err)
	}
	if pl.writer {
		c.writerRows++
	}
	return &rows{SQLiteRows: r, c: c, pl: pl, stmt: s, ctx: ctx, sctx: sctx, cancel: cancel}, nil
}

// PrepareContext implements driver.ConnPrepareContext. The statement is prepared where it
// would run only when the classifier cannot prepare it, so that SQLite's own error for a
// bad statement reaches the caller here, as with mattn/go-sqlite3.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	cls, err := c.cn.router.classify(ctx, query, !c.holding && c.reader == nil)
	if err != nil {
		return nil, err
	}
	n := cls.numInput
	if !cls.known {
		pl, err := c.place(ctx, query)
		if err != nil {
			return nil, err
		}
		pl.cls = classification{} // preparing leaves nothing behind
		s, err := pl.conn.PrepareContext(ctx, query)
		if err == nil {
			n = s.NumInput()
			s.Close()
		}
		c.finish(pl, err)
		if err != nil {
			return nil, err
		}
	}
	return &stmt{c: c, query: query, numInput: n}, nil
}

// Prepare implements driver.Conn.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// Begin implements driver.Conn.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// Ping implements driver.Pinger.
func (c *conn) Ping(ctx context.Context) error {
	return c.usable()
}

// ResetSession implements driver.SessionResetter. database/sql calls it before it hands the
// connection to a new user: the session's pin to the writer ends there, unless a
// transaction begun in SQL is still open, which keeps the session on the writer as it would
// keep a single connection.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.closed || c.cn.closed.Load() {
		return driver.ErrBadConn
	}
	if !c.sqlTx {
		c.pinned = false
	}
	return nil
}

// IsValid implements driver.Validator.
func (c *conn) IsValid() bool {
	return !c.closed && !c.cn.closed.Load()
}

// Close implements driver.Conn. It rolls back a transaction the session left open and gives
// back everything it holds.
func (c *conn) Close() error {
	if c.closed {
		return nil
	}
	var err error
	if c.tx != nil {
		err = c.endTx(c.tx, false)
	}
	if c.sqlTx && c.cn.writer.conn != nil {
		_, err = c.cn.writer.conn.ExecContext(context.Background(), "ROLLBACK", nil)
		c.sqlTx = false
	}
	c.writerRows = 0
	c.releaseWriterIfIdle()
	if c.reader != nil {
		c.readerRefs = 1
		c.releaseReader(nil)
	}
	c.closed = true
	if c.ownsConnector {
		err = errors.Join(err, c.cn.Close())
	}
	return err
}
