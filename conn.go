//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/sqlite-serial/sqlite-serial/internal/route"
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
// Owner: the session's own calls. database/sql never calls a conn from two goroutines at
// once (it holds its own lock around every call, Rows.Close and Tx.Rollback included), and
// no other type writes conn's fields: what the session holds of the writer, the reader pool
// or its own connection is given back through their methods. The one field another type
// reads is last, through a connection's ledger, and only inside the session's own call.
type conn struct {
	cn *Connector

	// holding is set while the session holds the writer's turn. It does so while a write
	// transaction is open (tx, or sqlTx for one begun in SQL) and while rows of a statement
	// that needed it are open (writeRows).
	holding   bool
	writeRows int
	// sharedRows counts those of writeRows open on the shared writer: a DROP of the session's
	// own connection meets them as another statement under way would on one connection
	// (see dropBesideRows).
	sharedRows int
	sqlTx      bool
	tx         *tx

	// session is the session's own connection, once it keeps state of its own. sessionUses
	// counts the reads on it that are under way (open rows, a read-only transaction);
	// sessionShare is set while they hold a share of the gate.
	session      *physConn
	sessionUses  int
	sessionShare bool

	// leases are the readers the session holds, for open rows or a read-only transaction;
	// reader is the one its further reads share, so that they read the same snapshot, as
	// on one connection. Once the session may have written, reader is nil: its later reads
	// take a new lease, whose snapshot holds the write, while the rows that hold the older
	// lease go on with theirs.
	leases []*readerLease
	reader *readerLease
	// spareLease is a lease given back, which the session's next read reuses: nothing
	// refers to a lease once its last use ended. spareRows is rows closed, which the
	// session's next rows reuse: database/sql calls a driver's Close of rows exactly once,
	// and nothing of them after it.
	spareLease *readerLease
	spareRows  *rows
	// tempOpen is set once the session ran a statement that opens a connection's temp
	// database (classification.opensTemp): its database_list then lists temp, as on one
	// connection.
	tempOpen bool
	// txLocal is set once a statement of the session's transaction on the shared writer left
	// state of the connection's own there (a temp object, a pragma setting); txSettings are
	// the values those pragmas had before. The transaction's end carries them out (see
	// carryOut).
	txLocal    bool
	txSettings map[string]string

	// last are the session's own last_insert_rowid() and changes() (see lastchange.go):
	// written only by the ledger of the connection the session's statement runs on, read by
	// the session for the results of its statements.
	last lastChange

	// lastQuery and lastJudgement are the session's last classification, from the
	// router's cache as lastCache was: a session often runs one statement again and again.
	lastQuery     string
	lastJudgement *route.Classification
	lastCache     *routeCache

	// batchWait is the outcome of the batch the session's last statement ran in, which its
	// caller waits for before answering; batchAlone is set when that statement must run
	// again on its own, and runAlone while it does (see batch.go). batchWoken is what the
	// batch's member reported for the session.
	batchWait  *batchOutcome
	batchWoken bool
	batchAlone bool
	runAlone   bool

	// schemaHeld is set when a statement that may change the schema ran while the session
	// held the writer's turn: what it changed is committed or rolled back when the hold
	// ends, and the router's judgements are dropped once more then (see router.schemaEpoch).
	schemaHeld bool

	closed        bool
	ownsConnector bool // opened by Driver.Open: closing the conn closes the connector
}

// classify returns the router's judgement of query.
func (c *conn) classify(ctx context.Context, query string, gated bool) (*route.Classification, error) {
	if cls, ok := c.cachedJudgement(query); ok {
		return cls, nil
	}
	cache := c.cn.router.cache.Load()
	cls, err := c.cn.router.classify(ctx, query, gated)
	if err == nil && cls.Known && len(query) <= routeTextLimit {
		c.lastCache, c.lastQuery, c.lastJudgement = cache, query, cls
	}
	return cls, err
}

// cachedJudgement returns the cached judgement of query, if there is one: the session's last
// one, or the router's, which becomes the session's last.
func (c *conn) cachedJudgement(query string) (*route.Classification, bool) {
	cache := c.cn.router.cache.Load()
	if c.lastCache == cache && c.lastQuery == query {
		return c.lastJudgement, true
	}
	v, ok := cache.m.Load(query)
	if !ok {
		return nil, false
	}
	cls := v.(*route.Classification)
	c.lastCache, c.lastQuery, c.lastJudgement = cache, query, cls
	return cls, true
}

// call is one statement call: its text, its arguments, and the prepared statement it
// comes from, if any, which runs only the first statement of its text, as mattn's do.
type call struct {
	query string
	args  []driver.NamedValue
	stmt  *stmt
}

// runExec runs the call on p.
func (cl *call) runExec(ctx context.Context, p *physConn) (driver.Result, error) {
	if cl.stmt == nil {
		return p.ExecContext(ctx, cl.query, cl.args)
	}
	h, err := cl.stmt.on(p)
	if err != nil {
		return nil, err
	}
	res, err := h.ExecContext(ctx, cl.args)
	if p.reader {
		// A SELECT's step to its first row would keep the reader in its read for the next
		// session it is handed to. A write steps to its end, which ends its statement; on
		// the writer or the session's own connection, as on mattn's, the read lasts until
		// the statement runs again.
		resetStmt(h)
	}
	return res, err
}

// runsPrepared reports whether the call runs as pl.prepared: when there is one and the
// call has exactly the arguments it takes. mattn's Query and Exec of a text ignore
// arguments beyond those of its statements, and refuse too few with an error of their own:
// a call that does not fit runs as the text, as with mattn.
func (cl *call) runsPrepared(pl *placement) bool {
	return pl.prepared != nil && len(cl.args) == pl.prepared.NumInput()
}

// runQueryAt runs the call at pl.
func (cl *call) runQueryAt(ctx context.Context, pl *placement) (*sqlite3.SQLiteRows, error) {
	if !cl.runsPrepared(pl) {
		return cl.runQuery(ctx, pl.conn)
	}
	r, err := pl.prepared.QueryContext(ctx, cl.args)
	if err != nil {
		return nil, err
	}
	return r.(*sqlite3.SQLiteRows), nil
}

// runQuery runs the call on p.
func (cl *call) runQuery(ctx context.Context, p *physConn) (*sqlite3.SQLiteRows, error) {
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
	cls  *route.Classification
	// lease is the reader lease of a statement on a reader.
	lease *readerLease
	// retry is set for a reader chosen by classification: a write that fails there as
	// read-only is run again on the writer.
	retry bool
	// entered is set when the statement runs on the shared writer or the session's own
	// connection, whose ledger reports the session's last_insert_rowid() and changes()
	// until settleChanges.
	entered bool
	// sharedRows is set for rows open on the shared writer, counted in conn.sharedRows.
	sharedRows bool
	// batch is the outcome of the batch the statement runs in on the writer, if it does.
	batch *batchOutcome
	// prepared is the statement as the reader prepared it to judge it (see judgeOnReader),
	// which runs it unless the call's arguments do not fit it; finish closes it.
	prepared *sqlite3.SQLiteStmt
}

// settleChanges ends the statement at pl on its connection's ledger, if it entered it;
// ran reports whether the statement ran (it may have failed while running), as opposed to
// failing before its first step.
func (c *conn) settleChanges(pl placement, ran bool) {
	if pl.entered {
		pl.conn.ledger.leave(pl.conn.h, ran && (pl.cls.DML || pl.cls.MayChange))
	}
}

// ranWhenFailed reports whether a statement that failed with err ran. SQLite's error
// other than SQLITE_ERROR comes from a statement that ran (a constraint, a write refused as
// read-only), and so does the time limit; SQLITE_ERROR may come from a prepare where it ran
// (a table the connection's snapshot lacks, a syntax error), and a context may have ended
// before mattn stepped the statement. Those are not known to have run: the ledger still sees
// whether they changed a value.
func ranWhenFailed(err error) bool {
	code := sqliteCode(err)
	return (code != 0 && code != sqlite3.ErrError) || isTimeLimit(err)
}

// refusedAtClose turns ErrClosed, the refusal of a wait that Close ended, into
// driver.ErrBadConn for a session that holds nothing: nothing ran, so database/sql may try
// again, and finds the *sql.DB closed ("sql: database is closed", its own error for work
// after Close). A session inside a transaction, or holding rows, keeps ErrClosed.
func (c *conn) refusedAtClose(err error) error {
	if err == ErrClosed && c.tx == nil && !c.sqlTx && !c.holding && len(c.leases) == 0 && c.sessionUses == 0 {
		return driver.ErrBadConn
	}
	return err
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
		c.settleChanges(pl, false)
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
			// The transaction holds its connection already: the classifier needs no share of
			// the gate. Its statements report the session's last_insert_rowid() and
			// changes(), there too.
			c.cn.routes.pinned.Add(1)
			cls, err := c.classify(ctx, query, false)
			if err != nil {
				return placement{}, err
			}
			pl, err := c.placeInReadTx(ctx, t, cls)
			if err == nil && !pl.entered {
				pl = c.entered(pl)
			}
			return pl, err
		}
	}
	if c.cn.exclusive.Load() && c.session == nil {
		// In exclusive locking mode no other connection can read the file, the classifier
		// included: everything runs on the writer, judged by its words.
		c.cn.routes.writer.Add(1)
		return c.placeOnWriter(ctx, route.Unprepared(query))
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
		if err := c.dropBesideRows(cls, query); err != nil {
			return placement{}, err
		}
		if len(cls.Settings) > 0 && c.session == nil && (c.tx != nil || c.sqlTx) {
			c.saveSettings(cls.Settings)
		}
		if cls.Pins && c.session == nil && c.tx == nil && !c.sqlTx {
			// Only rows of a statement hold the turn, not a transaction: the statement's
			// state is the session's own as always.
			if err := c.openSession(); err != nil {
				return placement{}, err
			}
		}
		if cls.ListsDatabases && !c.tempOpen && c.session == nil && cls.Route == route.Reader && c.cn.gate == nil {
			// database_list is no part of the transaction, and the shared writer may have
			// opened its temp database for others: a reader lists what the session's
			// connection would.
			c.cn.routes.reader.Add(1)
			return c.placeForRead(ctx, cls)
		}
		c.cn.routes.pinned.Add(1)
		return c.placeOnWriter(ctx, cls)
	}
	cls, cached := c.cachedJudgement(query)
	if !cached {
		judged, judgement, err := c.judgeOnReader(ctx, query)
		switch {
		case err != nil:
			return placement{}, c.refusedAtClose(err)
		case judged.conn != nil:
			return judged, nil
		}
		cls = judgement
		if cls == nil {
			if cls, err = c.classify(ctx, query, len(c.leases) == 0 && c.sessionUses == 0); err != nil {
				return placement{}, c.refusedAtClose(err)
			}
		}
	}
	if err := c.dropBesideRows(cls, query); err != nil {
		return placement{}, err
	}
	if c.session == nil && (cls.Pins || (c.cn.writer == nil && cls.TxControl)) {
		// The statement makes state of the session's own: it moves to a connection of its
		// own, from this statement on. (On a read-only database that includes
		// transactions begun in SQL, which have no writer to hold.)
		if err := c.openSession(); err != nil {
			return placement{}, err
		}
	}
	// A script that begins a transaction and sets a pragma in it (BEGIN; PRAGMA ...) saves
	// the settings it changes, once it holds the writer's turn (see below).
	save := len(cls.Settings) > 0 && c.session == nil && (cls.BeginsTx || !cls.Known)
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
	case cls.Route == route.Writer:
		c.cn.routes.writer.Add(1)
		pl, err := c.placeWrite(ctx, cls, c.batchable(cls))
		if err == nil && save {
			c.saveSettings(cls.Settings)
		}
		return pl, err
	case cls.ListsDatabases && c.tempOpen:
		// Readers never keep their temp database open; the writer, with its own open,
		// lists what the session's connection would.
		c.cn.routes.writer.Add(1)
		pl, err := c.placeOnWriter(ctx, cls)
		if err == nil {
			if err = pl.conn.openTemp(); err != nil {
				c.settleChanges(pl, false)
				c.finish(pl, err)
			}
		}
		return pl, err
	}
	c.cn.routes.reader.Add(1)
	pl, err := c.placeForRead(ctx, cls)
	pl.retry = true
	return pl, err
}

// judgeOnReader judges a statement no judgement is cached for (the caller looked) on the
// reader it would run on,
// when it may: a single SELECT, WITH or VALUES statement, of a session with nothing of its
// own (no connection, no transaction, no writer's turn, no rows open), on a WAL database whose readers no
// ConnectHook may have given an authorizer. When SQLite judges it a read, it is placed on
// that reader with the statement prepared there, so that a new statement costs one prepare,
// as on mattn. Otherwise the reader is given back and the judgement returned, for the
// statement to be placed as judged; cls is nil when the statement is not judged here.
func (c *conn) judgeOnReader(ctx context.Context, query string) (pl placement, cls *route.Classification, err error) {
	cn := c.cn
	// A session with rows open reads their snapshot: a judgement made there (on an older
	// schema) could not be cached for others, so it is made on a classifier.
	if c.session != nil || c.tx != nil || c.holding || len(c.leases) > 0 || cn.writer == nil || cn.gate != nil ||
		cn.drv.ConnectHook != nil || strings.IndexByte(query, 0) >= 0 {
		return placement{}, nil, nil
	}
	cls, statements := route.JudgeWords(query)
	if len(statements) != 1 || cls.Route != route.Reader {
		return placement{}, nil, nil
	}
	st := statements[0]
	if st.Keyword != "SELECT" && st.Keyword != "WITH" && st.Keyword != "VALUES" {
		return placement{}, nil, nil
	}
	if rest := strings.TrimRight(query, " \t\n\r\f"); rest != st.SQL && rest != st.SQL+";" {
		// Something follows the statement (a comment after its semicolon), which mattn
		// prepares and runs as a statement of its own.
		return placement{}, nil, nil
	}
	l, err := c.acquireReader(ctx)
	if err != nil {
		return placement{}, nil, err
	}
	cache := cn.router.cache.Load() // a judgement is the session's last for the cache of before it
	cls, prepared := cn.router.judgeOn(l.conn, cls, st)
	if prepared != nil && cls.ListsDatabases && c.tempOpen {
		// database_list lists temp once the session opened it: see choose.
		prepared.Close()
		prepared = nil
	}
	if cls.Known {
		cn.router.remember(query, cls)
		if len(query) <= routeTextLimit {
			c.lastCache, c.lastQuery, c.lastJudgement = cache, query, cls
		}
	}
	if prepared == nil {
		// Preparing a statement on the temp schema opens the reader's temp database, as
		// may one SQLite could not prepare: the reader is closed (see releaseReader).
		l.opensTemp = l.opensTemp || cls.OpensTemp || !cls.Known
		c.releaseReader(l, nil)
		return placement{}, cls, nil
	}
	cn.routes.reader.Add(1)
	return placement{conn: l.conn, kind: onReader, cls: cls, lease: l, retry: true, prepared: prepared}, cls, nil
}

// dropBesideRows returns SQLite's error for a statement that drops a table or an index while
// the session's rows are open on a reader, or on the shared writer while the statement runs
// on the session's own connection: on one connection, SQLite refuses to drop one while
// another statement of the connection is under way. The classifier judges tables it
// sees; one only the session's connection, or the writer it holds, knows (a temp table) is
// judged there.
func (c *conn) dropBesideRows(cls *route.Classification, query string) error {
	// Rows on the shared writer are beside a statement of the session's own connection.
	beside := len(c.leases) > 0 || (c.session != nil && c.sharedRows > 0)
	if !beside || !cls.Drops {
		return nil
	}
	destroys := cls.Destroys
	if p := c.session; !destroys && p == nil && c.holding && c.cn.writer != nil {
		destroys = destroysOn(c.cn.writer.conn, query)
	} else if !destroys && p != nil {
		destroys = destroysOn(p, query)
	}
	if destroys {
		return sqlite3.Error{Code: sqlite3.ErrLocked, ExtendedCode: sqlite3.ErrNoExtended(sqlite3.ErrLocked)}
	}
	return nil
}

// destroysOn reports whether a DROP of query drops a table or an index on p: its program
// there destroys a b-tree. Only p's user calls it.
func destroysOn(p *physConn, query string) bool {
	if p == nil {
		return false
	}
	for _, st := range route.Split(query) {
		if st.Keyword != "DROP" {
			continue
		}
		r, err := p.QueryContext(context.Background(), "EXPLAIN "+st.SQL, nil)
		if err != nil {
			continue
		}
		dest := make([]driver.Value, len(r.Columns()))
		for r.Next(dest) == nil {
			if op, _ := dest[1].(string); op == "Destroy" {
				r.Close()
				return true
			}
		}
		r.Close()
	}
	return false
}

// sessionWrites reports whether a statement of a session with its own connection needs the
// writer's turn. When the classifier could not prepare it (it names the session's temp
// tables, say), the session's connection judges it instead.
func (c *conn) sessionWrites(cls *route.Classification, query string) bool {
	if cls.Known || cls.Route == route.Reader {
		return cls.Route == route.Writer
	}
	for _, st := range route.Split(query) {
		if route.WriterKeyword(st.Keyword) {
			return true
		}
		s, err := c.session.PrepareContext(context.Background(), st.SQL)
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
func (c *conn) placeOnWriter(ctx context.Context, cls *route.Classification) (placement, error) {
	return c.placeWrite(ctx, cls, false)
}

// placeWrite is placeOnWriter for a statement that says whether it may join a batch (see
// batch.go).
func (c *conn) placeWrite(ctx context.Context, cls *route.Classification, batchable bool) (placement, error) {
	w := c.cn.writer
	c.runAlone = false
	if !cls.ReadsOnly {
		c.reader = nil // the session's later reads must see what this statement writes
	}
	var batch *batchOutcome
	if !c.holding {
		if err := w.acquireUnit(ctx, holdStatement, batchable); err != nil {
			return placement{}, c.refusedAtClose(err)
		}
		c.holding = true
		// The writer catches up on broadcast settings before a batch opens: inside a
		// transaction it cannot (see pragmaSettings.sync).
		if batchable && c.cn.pragmas.sync(w.conn) == nil {
			batch = w.joinBatch()
		}
	}
	if c.session != nil {
		return c.entered(placement{conn: c.session, kind: onWriter, cls: cls}), nil
	}
	if w.conn == nil || closedUnderneath(w.conn) {
		// Only a session that holds the writer across statements can meet this: the
		// connection broke under its transaction or rows.
		c.afterWriter(placement{kind: onWriter, cls: noJudgement}, errWriterBroke)
		return placement{}, errWriterBroke
	}
	return c.entered(placement{conn: w.conn, kind: onWriter, cls: cls, batch: batch}), nil
}

// entered starts the statement at pl on its connection's ledger.
func (c *conn) entered(pl placement) placement {
	pl.conn.ledger.enter(pl.conn.h, &c.last)
	pl.entered = true
	return pl
}

// placeForRead places a statement that does not write: on the session's own connection if
// it has one, else on a reader.
func (c *conn) placeForRead(ctx context.Context, cls *route.Classification) (placement, error) {
	if c.session != nil {
		if err := c.acquireSessionRead(ctx); err != nil {
			return placement{}, err
		}
		return c.entered(placement{conn: c.session, kind: onSession, cls: cls}), nil
	}
	l, err := c.acquireReader(ctx)
	if err != nil {
		return placement{}, err
	}
	return placement{conn: l.conn, kind: onReader, cls: cls, lease: l}, nil
}

// placeInReadTx places a statement of the read-only transaction t on t's connection: its
// reader, or the session's own connection. The session may have got a connection of its own
// since t began (the end of rows of an earlier transaction on the shared writer carries the
// settings it made out to one), and t's statements still read t's snapshot, query-only.
func (c *conn) placeInReadTx(ctx context.Context, t *tx, cls *route.Classification) (placement, error) {
	if t.pl.kind != onReader {
		return c.placeForRead(ctx, cls)
	}
	t.pl.lease.refs++
	return placement{conn: t.pl.conn, kind: onReader, cls: cls, lease: t.pl.lease}, nil
}

// misrouted reports whether err shows that a statement run on a reader wrote: SQLite
// refused it as read-only, and it is to run again on the writer. The route is remembered.
func (c *conn) misrouted(pl placement, query string, err error) bool {
	if !pl.retry || !isReadOnlyError(err) {
		return false
	}
	c.cn.routes.retried.Add(1)
	corrected := *pl.cls
	corrected.Route = route.Writer
	c.cn.router.remember(query, &corrected)
	c.lastCache = nil
	return true
}

// finish gives back what place took, once the statement (and its rows) are done; err is
// the statement's error.
func (c *conn) finish(pl placement, err error) {
	c.tempOpen = c.tempOpen || pl.cls.OpensTemp
	switch pl.kind {
	case onWriter:
		c.afterWriter(pl, err)
	case onSession:
		c.releaseSessionRead(err)
	default:
		if pl.prepared != nil {
			pl.prepared.Close()
		}
		// A reader is checked for a transaction left open only after a statement that
		// could have begun one; that check is a call into SQLite on every read otherwise.
		pl.lease.suspect = pl.lease.suspect || !pl.cls.Known || pl.cls.TxControl
		pl.lease.opensTemp = pl.lease.opensTemp || pl.cls.OpensTemp
		c.releaseReader(pl.lease, err)
	}
}

// afterWriter updates the session after a statement that held the writer's turn and
// releases the turn unless the session still needs it.
func (c *conn) afterWriter(pl placement, err error) {
	if pl.batch != nil {
		c.batchWait, c.batchAlone = c.cn.writer.leaveBatch(pl.batch, err)
		c.batchWoken = c.batchWait != nil && c.batchWait.member()
	}
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
	case c.cn.writer.conn == p && isReadOnlyError(err) && !c.cn.topo.memory && p.AutoCommit() && mainReadOnly(p.h):
		// SQLite opens a file it may not write read-only, silently; once the file is
		// writable again only a new connection writes. The next unit gets one. (A refusal
		// under PRAGMA query_only keeps the connection, and what WithWriter installed on it.)
		c.cn.writer.replaceNext()
		c.sqlTx = false
	default:
		if c.txLocal && p == c.cn.writer.conn && p.AutoCommit() && c.writeRows == 0 {
			// The transaction ended, and no rows of it are open on the writer (SQLite
			// refuses to drop a table while they are): the turn is still the session's.
			c.carryOut(p)
		}
		// Only a statement that may begin or end a transaction can change whether the
		// connection is inside one; asking SQLite is a call into it on every write.
		inTx := c.sqlTx
		if c.sqlTx || !pl.cls.Known || pl.cls.TxControl {
			inTx = !p.AutoCommit()
		}
		if !inTx && !c.txLocal {
			c.txSettings = nil // saved for a transaction that did not stay open
		}
		if inTx && isTimeLimit(err) {
			// A transaction begun in SQL whose statement ran out of time is rolled back.
			_, rerr := p.ExecContext(context.Background(), "ROLLBACK", nil)
			inTx = rerr != nil
		}
		if inTx && !c.sqlTx {
			c.cn.writer.setKind(holdSQLTransaction)
		}
		if c.sqlTx && !inTx {
			c.schemaSettled()
		}
		c.sqlTx = inTx
		if err == nil && !inTx {
			// Broadcast pragma settings made outside a transaction apply everywhere.
			c.cn.pragmas.record(pl.cls.Settings)
		}
	}
	if err == nil && (c.sqlTx || c.tx != nil) && p != nil && p == c.cn.writer.conn && !c.cn.exclusive.Load() &&
		(pl.cls.Pins || len(pl.cls.Settings) > 0 || (!pl.cls.Known && pl.cls.Schema)) {
		c.txLocal = true
	}
	if err == nil && pl.cls.LockingMode != "" && p != nil && p == c.cn.writer.conn {
		if pl.cls.LockingMode == "NORMAL" && p.AutoCommit() {
			// SQLite gives up the file's exclusive lock at the writer's next access to it:
			// before readers and the classifier open it again.
			_, _ = p.ExecContext(context.Background(), "SELECT 1 FROM sqlite_schema LIMIT 1", nil)
		}
		c.cn.setExclusive(pl.cls.LockingMode == "EXCLUSIVE")
	}
	if pl.cls.Schema {
		c.cn.router.invalidate()
		c.schemaHeld = c.schemaHeld || c.holding
	}
	if pl.cls.FileChange {
		c.cn.readers.fileChanged()
	}
	c.releaseWriterIfIdle()
}

// saveSettings records, before a statement of the session's transaction on the shared
// writer sets them, the values of pragmas not recorded yet in that transaction.
func (c *conn) saveSettings(settings []route.Setting) {
	w := c.cn.writer.conn
	for _, s := range settings {
		if _, ok := c.txSettings[s.Name]; ok || w == nil {
			continue
		}
		if v, err := queryText(w.SQLiteConn, "PRAGMA "+s.Name); err == nil {
			if c.txSettings == nil {
				c.txSettings = make(map[string]string)
			}
			c.txSettings[s.Name] = v
		}
	}
}

// carryOut ends what the session's transaction, just ended on the shared writer p, left
// there of its own: no other session may see it. Pragma settings it changed are set back on
// p, and the session gets a connection of its own with them, so that it goes on seeing
// them, as on one connection. Temp objects it created are dropped: SQLite cannot move them
// to another connection (see the README's Differences).
func (c *conn) carryOut(p *physConn) {
	c.txLocal = false
	saved := c.txSettings
	c.txSettings = nil
	var kept []string
	for name, before := range saved {
		after, err := queryText(p.SQLiteConn, "PRAGMA "+name)
		if err != nil || after == before {
			continue
		}
		kept = append(kept, fmt.Sprintf("PRAGMA %s = %s", name, after))
		_, _ = p.ExecContext(context.Background(), fmt.Sprintf("PRAGMA %s = %s", name, before), nil)
	}
	c.dropTempObjects(p)
	if len(kept) == 0 || c.session != nil || c.openSession() != nil {
		return
	}
	for _, q := range kept {
		_, _ = c.session.ExecContext(context.Background(), q, nil)
	}
}

// dropTempObjects drops the temp tables, views and triggers on p.
func (c *conn) dropTempObjects(p *physConn) {
	r, err := p.QueryContext(context.Background(),
		"SELECT type, name FROM temp.sqlite_schema WHERE type IN ('table', 'view', 'trigger')", nil)
	if err != nil {
		return
	}
	var drops []string
	dest := make([]driver.Value, 2)
	for r.Next(dest) == nil {
		kind, _ := dest[0].(string)
		name, _ := dest[1].(string)
		drops = append(drops, fmt.Sprintf("DROP %s IF EXISTS temp.\"%s\"", strings.ToUpper(kind), strings.ReplaceAll(name, `"`, `""`)))
	}
	r.Close()
	for _, q := range drops {
		_, _ = p.ExecContext(context.Background(), q, nil)
	}
	if len(drops) > 0 {
		c.cn.router.invalidate()
	}
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
	c.schemaSettled()
	c.cn.writer.release()
}

// schemaSettled drops the router's judgements once more when a transaction of the session
// that changed the schema ended, committed or rolled back: judgements made meanwhile saw
// the schema of before it.
func (c *conn) schemaSettled() {
	if c.schemaHeld {
		c.schemaHeld = false
		c.cn.router.invalidate()
	}
}

// acquireReader returns the lease the session's reads share, taking a reader from the pool
// when there is none. A session that holds a lease already (its rows are open) does not
// wait for readers other sessions hold. Each call must be matched by releaseReader.
func (c *conn) acquireReader(ctx context.Context) (*readerLease, error) {
	if l := c.reader; l != nil {
		l.refs++
		return l, nil
	}
	r, err := c.cn.readers.get(ctx, len(c.leases) > 0)
	if err != nil {
		return nil, c.refusedAtClose(err)
	}
	l := c.spareLease
	if l != nil {
		c.spareLease = nil
		*l = readerLease{conn: r, refs: 1}
	} else {
		l = &readerLease{conn: r, refs: 1}
	}
	c.leases = append(c.leases, l)
	c.reader = l
	return l, nil
}

// releaseReader drops one use of the lease l and gives its reader back to the pool after
// the last; err is the error of the statement that used it.
func (c *conn) releaseReader(l *readerLease, err error) {
	l.refs--
	if l.refs > 0 {
		return
	}
	if c.reader == l {
		c.reader = nil
	}
	l.conn.ledger = changeLedger{} // the reader's next user is another session
	c.leases = slices.DeleteFunc(c.leases, func(x *readerLease) bool { return x == l })
	// A reader whose temp database a statement opened is closed: readers never list temp.
	c.cn.readers.put(l.conn, l.opensTemp || (err != nil && closedUnderneath(l.conn)), l.suspect)
	*l = readerLease{}
	c.spareLease = l
}

// acquireSessionRead starts a read on the session's own connection. On a database without
// WAL it takes a share of the gate, unless the session holds the writer's turn, which
// keeps every reader out already. Each call must be matched by releaseSessionRead.
func (c *conn) acquireSessionRead(ctx context.Context) error {
	if c.sessionUses == 0 && !c.holding && c.cn.gate != nil {
		if err := c.cn.gate.acquireShared(ctx); err != nil {
			return c.refusedAtClose(err)
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

// beginStatement is the statement that begins the driver's own transaction on p: BEGIN
// IMMEDIATE (EXCLUSIVE with _txlock=exclusive), but on a session's own connection with
// reads open on it mattn's own, which keeps their snapshot, as on one mattn connection.
func (c *conn) beginStatement(p *physConn) string {
	if p == c.session && c.sessionUses > 0 {
		return c.cn.topo.sessionBegin
	}
	return c.cn.topo.begin
}

// ExecContext implements driver.ExecerContext.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.exec(ctx, call{query: query, args: args})
}

func (c *conn) exec(ctx context.Context, cl call) (driver.Result, error) {
	c.cn.calls.enter()
	defer c.cn.calls.leave()
	return untilSettled(c, func() (driver.Result, error) {
		res, pl, err := placeAndRun(c, ctx, cl, (*conn).execAt)
		if err != nil {
			return nil, err
		}
		c.settleChanges(pl, true)
		if !pl.cls.Empty && !(pl.cls.Returns && pl.kind == onWriter) {
			// mattn's result carries the connection's last_insert_rowid() and changes(),
			// also for a statement that changed nothing (but for a string with no statement
			// at all): those are the session's own.
			res = c.last
		}
		c.finish(pl, nil)
		return res, nil
	})
}

// untilSettled runs one call of the session, and runs it again for as long as the batch it
// ran in did not apply it (see batch.go), with the session's last_insert_rowid() and
// changes() as they were before it. It returns the call's outcome once that is final.
func untilSettled[T any](c *conn, call func() (T, error)) (T, error) {
	for {
		before := c.last
		v, err := call()
		if !c.awaitBatch() {
			return v, err
		}
		c.last = before // nothing of the statement was applied
	}
}

// retryOnWriter gives back the reader that refused a write and places it on the writer.
func (c *conn) retryOnWriter(ctx context.Context, pl placement) (placement, error) {
	c.finish(pl, nil)
	pl, err := c.placeOnWriter(ctx, pl.cls)
	if err == nil {
		if err = c.cn.pragmas.sync(pl.conn); err != nil {
			c.settleChanges(pl, false)
			c.finish(pl, err)
		}
	}
	return pl, err
}

// failed gives back what a statement that failed at pl took.
func (c *conn) failed(pl placement, err error) {
	c.settleChanges(pl, ranWhenFailed(err))
	c.finish(pl, err)
}

// execAt runs the call at pl under the statement's time limit.
func (c *conn) execAt(ctx context.Context, pl placement, cl call) (driver.Result, error) {
	sctx, cancel := c.cn.statementContext(ctx)
	var res driver.Result
	var err error
	switch {
	case pl.cls.Returns && pl.kind == onWriter:
		res, err = c.execReturning(sctx, pl, cl)
	case cl.runsPrepared(&pl):
		res, err = pl.prepared.ExecContext(sctx, cl.args)
	default:
		res, err = cl.runExec(sctx, pl.conn)
	}
	cancel()
	return res, c.cn.statementError(ctx, sctx, err, cl.query)
}

// execReturning runs a write with a RETURNING clause for Exec as mattn does: one step, whose
// result is the Exec result. SQLite runs the whole write in that step but sets changes() only
// when the statement ends, so when the step returns a row, mattn's result carries the
// changes() of before the statement: the session's own. An error after the first row is
// not reported, as mattn does not.
func (c *conn) execReturning(sctx context.Context, pl placement, cl call) (driver.Result, error) {
	r, err := cl.runQuery(sctx, pl.conn)
	if err != nil {
		return nil, err
	}
	err = r.Next(make([]driver.Value, len(r.Columns())))
	now := readValues(pl.conn.h)
	_ = r.Close()
	switch {
	case err == nil:
		return lastChange{rowid: now.rowid, changes: c.last.changes}, nil
	case err == io.EOF:
		return lastChange{rowid: now.rowid, changes: now.changes}, nil
	}
	return nil, err
}

// QueryContext implements driver.QueryerContext.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.query(ctx, call{query: query, args: args})
}

func (c *conn) query(ctx context.Context, cl call) (driver.Rows, error) {
	if cl.query == connectorProbe {
		return &probeRows{number: int64(c.cn.number)}, nil
	}
	c.cn.calls.enter()
	defer c.cn.calls.leave()
	// Rows of a write in a batch are settled (settleWrite): they hold nothing while the
	// batch's outcome is awaited. Other rows finish the placement when they close.
	return untilSettled(c, func() (driver.Rows, error) {
		r, _, err := placeAndRun(c, ctx, cl, (*conn).queryAt)
		return r, err
	})
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
	if pl.kind == onWriter && c.tx == nil && !c.sqlTx && c.writeRows == 0 && (pl.batch != nil || pl.conn.AutoCommit()) {
		// Rows that would hold the writer's turn outside a transaction are read at once.
		if pl.cls.Settles {
			return c.settleWrite(ctx, pl, cl)
		}
		return c.bufferRead(ctx, pl, cl)
	}
	if pl.kind != onWriter && c.cn.gate != nil {
		// Without WAL a read's share of the gate keeps every write out: rows left open
		// must not, so they are read at once.
		return c.bufferRead(ctx, pl, cl)
	}
	sctx, cancel := c.cn.statementContext(ctx)
	r, err := cl.runQueryAt(sctx, &pl)
	if err != nil {
		cancel()
		return nil, c.cn.statementError(ctx, sctx, err, cl.query)
	}
	if pl.kind == onWriter {
		c.writeRows++
		if c.cn.writer != nil && pl.conn == c.cn.writer.conn {
			c.sharedRows++
			pl.sharedRows = true
		}
	}
	out := c.spareRows
	if out != nil {
		c.spareRows = nil
	} else {
		out = new(rows)
	}
	*out = rows{SQLiteRows: r, c: c, pl: pl, ctx: ctx, sctx: sctx, cancel: cancel, query: cl.query}
	return out, nil
}

// PrepareContext implements driver.ConnPrepareContext. The statement is prepared where it
// would run only when the classifier cannot prepare it, so that SQLite's own error for a
// bad statement reaches the caller here, as with mattn/go-sqlite3.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if query == connectorProbe {
		// Answered by query without SQLite (see wrapped.go): a wrapper that offers Prepare
		// alone must not have it classified, placed or waiting for the writer.
		return &stmt{c: c, query: query}, nil
	}
	c.cn.calls.enter()
	defer c.cn.calls.leave()
	if err := c.usable(); err != nil {
		return nil, err
	}
	var cls *route.Classification
	var err error
	if c.cn.exclusive.Load() && c.session == nil {
		cls = route.Unprepared(query)
	} else if cls, err = c.classify(ctx, query, !c.holding && len(c.leases) == 0 && c.sessionUses == 0); err != nil {
		return nil, err
	}
	n := cls.NumInput
	if !cls.Known {
		pl, err := c.place(ctx, query)
		if err != nil {
			return nil, err
		}
		c.settleChanges(pl, false) // preparing leaves nothing behind
		pl.cls = noJudgement
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

// Ping implements driver.Pinger. It opens what a first statement would open: the writer is
// open already (Connect opened it); on a read-only database, a reader. The error of opening
// it is SQLite's, unchanged.
func (c *conn) Ping(ctx context.Context) error {
	c.cn.calls.enter()
	defer c.cn.calls.leave()
	if err := c.usable(); err != nil {
		return err
	}
	if c.cn.writer != nil || c.session != nil || len(c.leases) > 0 {
		return nil
	}
	r, err := c.cn.readers.get(ctx, false)
	if err != nil {
		return err
	}
	c.cn.readers.put(r, false, false)
	return nil
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
	c.cn.calls.enter()
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
	c.writeRows, c.sharedRows = 0, 0
	c.releaseWriterIfIdle()
	for len(c.leases) > 0 {
		l := c.leases[0]
		l.refs, l.suspect = 1, true
		c.releaseReader(l, nil)
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
	c.cn.calls.leave()
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

// readerLease is a reader a session holds, with the snapshot of the reads on it.
//
// Owner: the session that acquired it (conn.acquireReader); it goes back to the pool through
// conn.releaseReader once no statement of the session uses it.
type readerLease struct {
	conn *physConn
	refs int // the session's statements using it: open rows, a read-only transaction
	// suspect is set once a statement on it might have begun a transaction, which the pool
	// then rolls back; opensTemp once one opened its temp database.
	suspect, opensTemp bool
}
