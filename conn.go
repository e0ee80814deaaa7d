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
// connection at first: each statement runs on a reader or on the writer, as the router and
// the session's state decide. Once the session keeps state of its own (temp objects,
// attached databases, a per-session pragma), it gets a physical connection of its own, its
// session connection, and runs everything there; its writes still wait for the writer's
// turn, so that writes stay serialized.
//
// database/sql never calls a conn from two goroutines at once (it holds its own lock around
// every call, Rows.Close and Tx.Rollback included), so conn's fields need no lock.
type conn struct {
	cn *Connector

	// holding is set while the session holds the writer's turn. It does so while a write
	// transaction is open (tx, or sqlTx for one begun in SQL) and while rows of a statement
	// that needed it are open (writeRows).
	holding   bool
	writeRows int
	sqlTx     bool
	tx        *tx

	// session is the session's own connection, once it keeps state of its own. sessionUses
	// counts the reads on it that are under way (open rows, a read-only transaction);
	// sessionShare is set while they hold a share of the gate.
	session      *physConn
	sessionUses  int
	sessionShare bool

	// reader is the reader the session uses, while readerRefs > 0: rows are open on it or
	// a read-only transaction runs on it. Further reads of the session share it.
	reader     *physConn
	readerRefs int
	// readerSuspect is set once a statement on the reader might have begun a transaction.
	readerSuspect bool

	// saved are the session's own last_insert_rowid() and changes() while the shared
	// writer connection holds another session's (see lastchange.go). claimSlot is the room
	// for the claim of its statement on the writer, while claimSlotUsed.
	saved         lastChange
	claimSlot     dmlClaim
	claimSlotUsed bool

	// lastQuery and lastJudgement are the session's last classification, from the
	// router's cache as lastCache was: a session often runs one statement again and again.
	lastQuery     string
	lastJudgement *classification
	lastCache     *routeCache

	closed        bool
	ownsConnector bool // opened by Driver.Open: closing the conn closes the connector
}

// classify returns the router's judgement of query.
func (c *conn) classify(ctx context.Context, query string, gated bool) (*classification, error) {
	cache := c.cn.router.cache.Load()
	if c.lastCache == cache && c.lastQuery == query {
		return c.lastJudgement, nil
	}
	cls, err := c.cn.router.classify(ctx, query, gated)
	if err == nil && cls.known {
		c.lastCache, c.lastQuery, c.lastJudgement = cache, query, cls
	}
	return cls, err
}

// call is one statement call: its text, its arguments, and the prepared statement it
// comes from, if any, which runs only the first statement of its text, as mattn's do.
type call struct {
	query string
	args  []driver.NamedValue
	stmt  *stmt
}

// runExec runs the call on p.
func (cl call) runExec(ctx context.Context, p *physConn) (driver.Result, error) {
	if cl.stmt == nil {
		return p.ExecContext(ctx, cl.query, cl.args)
	}
	h, err := cl.stmt.on(p)
	if err != nil {
		return nil, err
	}
	return h.ExecContext(ctx, cl.args)
}

// runQuery runs the call on p.
func (cl call) runQuery(ctx context.Context, p *physConn) (*sqlite3.SQLiteRows, error) {
	var r driver.Rows
	var err error
	if cl.stmt == nil {
		r, err = p.QueryContext(ctx, cl.query, cl.args)
	} else {
		var h *sqlite3.SQLiteStmt
		if h, err = cl.stmt.on(p); err == nil {
			r, err = h.QueryContext(ctx, cl.args)
		}
	}
	if err != nil {
		return nil, err
	}
	return r.(*sqlite3.SQLiteRows), nil
}

// placeKind is what a statement's placement holds.
type placeKind uint8

const (
	// onReader: a reader of the pool, acquired by the session.
	onReader placeKind = iota
	// onWriter: the writer's turn, held by the session; the connection is the shared
	// writer or the session's own.
	onWriter
	// onSession: the session's own connection, for a statement that does not write.
	onSession
)

// placement is where one call runs.
type placement struct {
	conn *physConn
	kind placeKind
	cls  *classification
	// retry is set for a reader chosen by classification: a write that fails there as
	// read-only is run again on the writer.
	retry bool
	// claim is set when the statement claimed last_insert_rowid() and changes() on the
	// shared writer connection (see lastchange.go); settleChanges gives it back.
	claim *dmlClaim
}

// settleChanges records what the statement at pl left in last_insert_rowid() and
// changes(), if it claimed them; after is its Exec result, nil when there is none, and how
// is how it ended.
func (c *conn) settleChanges(pl placement, after driver.Result, how outcome) {
	w := c.cn.writer
	switch {
	case pl.claim != nil && after != nil:
		v := resultChange(after)
		w.settleChanges(c, *pl.claim, &v, how)
	case pl.claim != nil:
		w.settleChanges(c, *pl.claim, nil, how)
	case after != nil && pl.kind == onWriter && w != nil && pl.conn == w.conn:
		w.noteChange(resultChange(after))
	}
	if pl.claim == &c.claimSlot {
		c.claimSlotUsed = false
	}
}

// newClaim returns room for a claim: the session's own slot, unless rows of an earlier
// statement still hold it.
func (c *conn) newClaim() *dmlClaim {
	if c.claimSlotUsed {
		return new(dmlClaim)
	}
	c.claimSlotUsed = true
	return &c.claimSlot
}

// failedOutcome tells how a statement that claimed the writer's values and failed with err
// ended. SQLite's error for a statement the classifier prepared, or its time limit, comes
// from a statement that ran; otherwise it ran only if the values changed.
func (c *conn) failedOutcome(pl placement, err error) outcome {
	switch {
	case pl.claim == nil:
		return notRun
	case (sqliteCode(err) != 0 && pl.cls.known) || isTimeLimit(err):
		return ranFailed
	case sqliteCode(err) != 0, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// A string the classifier could not prepare may have failed to prepare on the
		// writer too, and a context may have ended before mattn stepped the statement:
		// either ran only if it changed a value.
		w := c.cn.writer
		w.owners.known = false
		if w.currentChange() == pl.claim.before {
			return notRun
		}
		return ranFailed
	}
	return notRun
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

// place decides where a statement runs, takes that connection for the session and brings
// its pragma settings up to date.
func (c *conn) place(ctx context.Context, query string) (placement, error) {
	pl, err := c.choose(ctx, query)
	if err != nil {
		return placement{}, err
	}
	if err := c.cn.pragmas.sync(pl.conn); err != nil {
		c.settleChanges(pl, nil, notRun)
		c.finish(pl, nil)
		return placement{}, err
	}
	return pl, nil
}

func (c *conn) choose(ctx context.Context, query string) (placement, error) {
	if err := c.usable(); err != nil {
		return placement{}, err
	}
	if t := c.tx; t != nil {
		if t.aborted != nil {
			return placement{}, t.aborted
		}
		if t.readOnly {
			c.cn.routes.pinned.Add(1)
			return c.placeForRead(ctx, noJudgement)
		}
	}
	if c.holding {
		// A transaction or open rows hold the writer's turn for the session: everything
		// runs where it holds it. The classification still matters for what the statement
		// leaves behind. The classifier needs no share of the gate: the session holds the
		// gate whole.
		cls, err := c.classify(ctx, query, false)
		if err != nil {
			return placement{}, err
		}
		c.cn.routes.pinned.Add(1)
		return c.placeOnWriter(ctx, cls)
	}
	cls, err := c.classify(ctx, query, c.reader == nil && c.sessionUses == 0)
	if err != nil {
		return placement{}, err
	}
	if c.session == nil && (cls.pins || (c.cn.writer == nil && cls.txControl)) {
		// The statement makes state of the session's own: it moves to a connection of its
		// own, from this statement on. (On a read-only database that includes
		// transactions begun in SQL, which have no writer to hold.)
		if err := c.openSession(); err != nil {
			return placement{}, err
		}
	}
	switch {
	case c.session != nil:
		c.cn.routes.pinned.Add(1)
		if c.cn.writer != nil && c.sessionWrites(cls, query) {
			return c.placeOnWriter(ctx, cls)
		}
		return c.placeForRead(ctx, cls)
	case c.cn.writer == nil:
		// A read-only database: everything runs on a reader, and SQLite refuses writes.
		c.cn.routes.reader.Add(1)
		return c.placeForRead(ctx, cls)
	case cls.route == toWriter:
		c.cn.routes.writer.Add(1)
		return c.placeOnWriter(ctx, cls)
	}
	c.cn.routes.reader.Add(1)
	pl, err := c.placeForRead(ctx, cls)
	pl.retry = true
	return pl, err
}

// sessionWrites reports whether a statement of a session with its own connection needs the
// writer's turn. When the classifier could not prepare it (it names the session's temp
// tables, say), the session's connection judges it instead.
func (c *conn) sessionWrites(cls *classification, query string) bool {
	if cls.known || cls.route == toReader {
		return cls.route == toWriter
	}
	for _, st := range splitStatements(query) {
		if writerKeywords[st.keyword] {
			return true
		}
		s, err := c.session.PrepareContext(context.Background(), st.sql)
		if err != nil {
			return true // let it fail where a write would run
		}
		readOnly := s.(*sqlite3.SQLiteStmt).Readonly()
		s.Close()
		if !readOnly {
			return true
		}
	}
	return false
}

// placeOnWriter takes the writer's turn for the session, waiting in its queue unless it
// holds it already, and places the statement on the session's own connection or the
// shared writer.
func (c *conn) placeOnWriter(ctx context.Context, cls *classification) (placement, error) {
	w := c.cn.writer
	if !c.holding {
		if err := w.acquire(ctx, holdStatement); err != nil {
			return placement{}, err
		}
		c.holding = true
	}
	if c.session != nil {
		return placement{conn: c.session, kind: onWriter, cls: cls}, nil
	}
	if w.conn == nil || closedUnderneath(w.conn) {
		// Only a session that holds the writer across statements can meet this: the
		// connection broke under its transaction or rows.
		c.afterWriter(placement{kind: onWriter, cls: noJudgement}, errWriterBroke)
		return placement{}, errWriterBroke
	}
	pl := placement{conn: w.conn, kind: onWriter, cls: cls}
	w.running = c
	if cls.dml || (!cls.known && cls.mayChange) {
		pl.claim = c.newClaim()
		*pl.claim = w.claimChanges(c)
		pl.claim.insertsRowid = cls.insertsRowid
	}
	return pl, nil
}

// placeForRead places a statement that does not write: on the session's own connection if
// it has one, else on a reader.
func (c *conn) placeForRead(ctx context.Context, cls *classification) (placement, error) {
	if c.session != nil {
		if err := c.acquireSessionRead(ctx); err != nil {
			return placement{}, err
		}
		return placement{conn: c.session, kind: onSession, cls: cls}, nil
	}
	r, err := c.acquireReader(ctx)
	if err != nil {
		return placement{}, err
	}
	return placement{conn: r, kind: onReader, cls: cls}, nil
}

// misrouted reports whether err shows that a statement run on a reader wrote: SQLite
// refused it as read-only, and it is to run again on the writer. The route is remembered.
func (c *conn) misrouted(pl placement, query string, err error) bool {
	if !pl.retry || !isReadOnlyError(err) {
		return false
	}
	c.cn.routes.retried.Add(1)
	corrected := *pl.cls
	corrected.route = toWriter
	c.cn.router.remember(query, &corrected)
	c.lastCache = nil
	return true
}

// finish gives back what place took, once the statement (and its rows) are done; err is
// the statement's error.
func (c *conn) finish(pl placement, err error) {
	switch pl.kind {
	case onWriter:
		c.afterWriter(pl, err)
	case onSession:
		c.releaseSessionRead(err)
	default:
		// A reader is checked for a transaction left open only after a statement that
		// could have begun one; that check is a call into SQLite on every read otherwise.
		c.readerSuspect = c.readerSuspect || !pl.cls.known || pl.cls.txControl
		c.releaseReader(err)
	}
}

// afterWriter updates the session after a statement that held the writer's turn and
// releases the turn unless the session still needs it.
func (c *conn) afterWriter(pl placement, err error) {
	p := pl.conn
	if err != nil && p != nil && closedUnderneath(p) {
		c.connectionBroke(p)
		p = nil
	}
	switch {
	case p == nil:
		// The connection broke; whatever transaction it held is gone.
		c.sqlTx = false
		if c.tx != nil && c.tx.aborted == nil {
			c.tx.aborted = fmt.Errorf("%w: %w", ErrTxAborted, errWriterBroke)
		}
	case c.tx != nil && !c.tx.readOnly:
		switch {
		case c.tx.aborted != nil:
		case isTimeLimit(err):
			c.abortTx(err)
		case err != nil && p.AutoCommit():
			// SQLite ended the transaction itself: an interrupted write, OR ROLLBACK,
			// RAISE(ROLLBACK), a full disk. Later statements would run in autocommit
			// and commit at once; they fail instead, as Commit does.
			c.tx.aborted = fmt.Errorf("%w: SQLite rolled it back after: %w", ErrTxAborted, err)
		}
	case c.cn.writer.conn == p && isReadOnlyError(err) && !c.cn.topo.memory && p.AutoCommit():
		// SQLite opens a file it may not write read-only, silently; once the file is
		// writable again only a new connection writes. The next unit gets one.
		c.cn.writer.reopen = true
		c.sqlTx = false
	default:
		// Only a statement that may begin or end a transaction can change whether the
		// connection is inside one; asking SQLite is a call into it on every write.
		inTx := c.sqlTx
		if c.sqlTx || !pl.cls.known || pl.cls.txControl {
			inTx = !p.AutoCommit()
		}
		if inTx && isTimeLimit(err) {
			// A transaction begun in SQL whose statement ran out of time is rolled back.
			_, rerr := p.ExecContext(context.Background(), "ROLLBACK", nil)
			inTx = rerr != nil
		}
		if inTx && !c.sqlTx {
			c.cn.writer.setKind(holdSQLTransaction)
		}
		c.sqlTx = inTx
		if err == nil && !inTx {
			// Broadcast pragma settings made outside a transaction apply everywhere.
			c.cn.pragmas.record(pl.cls.settings)
		}
	}
	if pl.cls.schema {
		c.cn.router.invalidate()
	}
	c.releaseWriterIfIdle()
}

// isReadOnlyError reports whether err is SQLite's SQLITE_READONLY.
func isReadOnlyError(err error) bool {
	return err != nil && sqliteCode(err) == sqlite3.ErrReadonly
}

// connectionBroke drops a connection that was closed underneath the session.
func (c *conn) connectionBroke(p *physConn) {
	if p == c.session {
		if c.sessionUses > 0 {
			c.cn.reads.end(p.readEpoch)
			if c.sessionShare {
				c.cn.gate.releaseShared()
			}
		}
		c.cn.closeSession(p)
		c.session, c.sessionUses, c.sessionShare = nil, 0, false
		return
	}
	c.cn.writer.checkBroken()
}

// releaseWriterIfIdle releases the writer's turn unless an open transaction or open rows of
// the session still need it.
func (c *conn) releaseWriterIfIdle() {
	if !c.holding || c.writeRows > 0 || c.sqlTx || (c.tx != nil && !c.tx.readOnly && c.tx.aborted == nil) {
		return
	}
	c.holding = false
	c.cn.writer.running = nil
	c.cn.writer.release()
}

// acquireReader returns the session's reader, taking one from the pool unless it uses one
// already. Each call must be matched by releaseReader.
func (c *conn) acquireReader(ctx context.Context) (*physConn, error) {
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
	r, suspect := c.reader, c.readerSuspect
	c.reader, c.readerSuspect = nil, false
	c.cn.readers.put(r, err != nil && closedUnderneath(r), suspect)
}

// acquireSessionRead starts a read on the session's own connection. On a database without
// WAL it takes a share of the gate, unless the session holds the writer's turn, which
// keeps every reader out already. Each call must be matched by releaseSessionRead.
func (c *conn) acquireSessionRead(ctx context.Context) error {
	if c.sessionUses == 0 && !c.holding && c.cn.gate != nil {
		if err := c.cn.gate.acquireShared(ctx); err != nil {
			return err
		}
		c.sessionShare = true
	}
	if c.sessionUses == 0 {
		c.session.readEpoch = c.cn.reads.begin()
	}
	c.sessionUses++
	return nil
}

// releaseSessionRead ends a read on the session's own connection; err is the error of the
// statement that read.
func (c *conn) releaseSessionRead(err error) {
	if c.sessionUses == 0 || c.session == nil {
		return
	}
	c.sessionUses--
	if c.sessionUses == 0 {
		c.cn.reads.end(c.session.readEpoch)
		if c.sessionShare {
			c.sessionShare = false
			c.cn.gate.releaseShared()
		}
	}
	if err != nil && closedUnderneath(c.session) {
		c.connectionBroke(c.session)
	}
}

// openSession gives the session a connection of its own.
func (c *conn) openSession() error {
	p, err := c.cn.openSession()
	if err != nil {
		return err
	}
	c.session = p
	return nil
}

// ExecContext implements driver.ExecerContext.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.exec(ctx, call{query: query, args: args})
}

func (c *conn) exec(ctx context.Context, cl call) (driver.Result, error) {
	res, pl, err := placeAndRun(c, ctx, cl, (*conn).execAt)
	if err != nil {
		return nil, err
	}
	c.settleChanges(pl, res, ranOK)
	if pl.conn != c.session && !pl.cls.empty && !c.ownsChanges(pl) {
		// mattn's result carries the connection's last_insert_rowid() and changes(), also
		// for a statement that changed nothing (but for a string with no statement at all);
		// on a shared connection those must be the session's own.
		res = c.saved
	}
	c.finish(pl, nil)
	return res, nil
}

// ownsChanges reports whether the shared writer's last_insert_rowid() and changes() are
// the session's, after its statement at pl: then mattn's result carries them already.
func (c *conn) ownsChanges(pl placement) bool {
	o := &c.cn.writer.owners
	return pl.claim != nil && o.rowidOwner == c && o.changesOwner == c
}

// retryOnWriter gives back the reader that refused a write and places it on the writer.
func (c *conn) retryOnWriter(ctx context.Context, pl placement) (placement, error) {
	c.finish(pl, nil)
	pl, err := c.placeOnWriter(ctx, pl.cls)
	if err == nil {
		if err = c.cn.pragmas.sync(pl.conn); err != nil {
			c.settleChanges(pl, nil, notRun)
			c.finish(pl, err)
		}
	}
	return pl, err
}

// failed gives back what a statement that failed at pl took.
func (c *conn) failed(pl placement, err error) {
	c.settleChanges(pl, nil, c.failedOutcome(pl, err))
	c.finish(pl, err)
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
	r, _, err := placeAndRun(c, ctx, cl, (*conn).queryAt)
	if err != nil {
		return nil, err
	}
	return r, nil // the rows finish the placement when they close
}

// placeAndRun places a call, runs it with at and, when a reader refused it as a write,
// runs it again on the writer. When it fails, what it took is given back; when it
// succeeds, the caller owns the placement.
func placeAndRun[T any](c *conn, ctx context.Context, cl call, at func(*conn, context.Context, placement, call) (T, error)) (T, placement, error) {
	var none T
	pl, err := c.place(ctx, cl.query)
	if err != nil {
		return none, placement{}, err
	}
	v, err := at(c, ctx, pl, cl)
	if c.misrouted(pl, cl.query, err) {
		if pl, err = c.retryOnWriter(ctx, pl); err != nil {
			return none, placement{}, err
		}
		v, err = at(c, ctx, pl, cl)
	}
	if err != nil {
		c.failed(pl, err)
		return none, placement{}, err
	}
	return v, pl, nil
}

// queryAt runs the call at pl and returns rows that give pl back when they close; a write
// that settles (see settleWrite) gives pl back before it returns.
func (c *conn) queryAt(ctx context.Context, pl placement, cl call) (driver.Rows, error) {
	if pl.kind == onWriter && pl.cls.settles && c.tx == nil && !c.sqlTx && c.writeRows == 0 && pl.conn.AutoCommit() {
		return c.settleWrite(ctx, pl, cl)
	}
	sctx, cancel := c.cn.statementContext(ctx)
	r, err := cl.runQuery(sctx, pl.conn)
	if err != nil {
		cancel()
		return nil, c.cn.statementError(ctx, sctx, err)
	}
	if pl.kind == onWriter {
		c.writeRows++
	}
	out := rowsPool.Get().(*rows)
	*out = rows{SQLiteRows: r, c: c, pl: pl, ctx: ctx, sctx: sctx, cancel: cancel}
	return out, nil
}

// PrepareContext implements driver.ConnPrepareContext. The statement is prepared where it
// would run only when the classifier cannot prepare it, so that SQLite's own error for a
// bad statement reaches the caller here, as with mattn/go-sqlite3.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	cls, err := c.classify(ctx, query, !c.holding && c.reader == nil && c.sessionUses == 0)
	if err != nil {
		return nil, err
	}
	n := cls.numInput
	if !cls.known {
		pl, err := c.place(ctx, query)
		if err != nil {
			return nil, err
		}
		pl.cls = noJudgement // preparing leaves nothing behind
		c.settleChanges(pl, nil, notRun)
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
// connection to a new user. The session's state stays, as it would on one SQLite
// connection: its own connection with its temp objects and attachments, and a transaction
// begun in SQL, which keeps holding the writer's turn.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.closed || c.cn.closed.Load() {
		return driver.ErrBadConn
	}
	return nil
}

// IsValid implements driver.Validator.
func (c *conn) IsValid() bool {
	return !c.closed && !c.cn.closed.Load()
}

// Close implements driver.Conn. It rolls back a transaction the session left open, gives
// back everything it holds and closes its own connection.
func (c *conn) Close() error {
	if c.closed {
		return nil
	}
	var err error
	if c.tx != nil {
		err = c.endTx(c.tx, false)
	}
	if c.sqlTx {
		if p := c.writeTarget(); p != nil {
			_, err = p.ExecContext(context.Background(), "ROLLBACK", nil)
		}
		c.sqlTx = false
	}
	c.writeRows = 0
	c.releaseWriterIfIdle()
	if c.reader != nil {
		c.readerRefs, c.readerSuspect = 1, true
		c.releaseReader(nil)
	}
	if c.sessionUses > 0 {
		c.sessionUses = 1
		c.releaseSessionRead(nil)
	}
	if c.session != nil {
		c.cn.closeSession(c.session)
		c.session = nil
	}
	c.closed = true
	if c.ownsConnector {
		err = errors.Join(err, c.cn.Close())
	}
	return err
}

// writeTarget is the connection the session's writes run on: its own, or the shared writer.
func (c *conn) writeTarget() *physConn {
	if c.session != nil {
		return c.session
	}
	return c.cn.writer.conn
}
