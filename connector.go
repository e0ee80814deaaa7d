//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/sqlite-serial/sqlite-serial/internal/route"
)

var (
	_ driver.Connector = (*Connector)(nil)
	_ io.Closer        = (*Connector)(nil)
)

// Connector is the topology behind one *sql.DB: one writer connection, a pool of reader
// connections, and the router that sends each statement to one of them. Open it with
// NewConnector and sql.OpenDB, or let sql.Open do both.
type Connector struct {
	cfg    Config // a private copy, with defaults resolved
	topo   topology
	drv    *sqlite3.SQLiteDriver
	driver *Driver // what Driver returns

	// number is the connector's number, for the sessions of a wrapped driver (see
	// wrapped.go). Written once, by NewConnector.
	number uint64

	startMu sync.Mutex
	started bool
	closed  atomic.Bool
	writer  *writer // nil for a read-only database
	// writerDeferred is set when start found the file in WAL mode already and left the
	// writer to open at its first holder (see start). Written once, by start.
	writerDeferred bool
	readers        *readerPool
	router         *router

	gate   *gate // nil for a WAL database
	routes routeCounters
	// pragmas are the broadcast pragma settings made through the connector.
	pragmas pragmaSettings
	// sessions counts the connections of sessions that keep state of their own.
	sessions sessionCounters
	// calls counts the calls running inside the driver, which Close lets finish.
	calls callCounter
	// exclusive is set while the database is in exclusive locking mode (by the DSN, or by a
	// PRAGMA locking_mode setting through the driver): only the writer can use the file, so
	// every statement runs there, reads included, judged by its words (conn.choose).
	exclusive atomic.Bool
	// reads tracks the reads under way, for checkpoints.
	reads readEpochs
}

// sessionCounters count session connections.
type sessionCounters struct {
	opened atomic.Uint64
	open   atomic.Int64
}

// callCounter counts the calls running inside the driver, for Close, which lets them
// finish. Calls enter and leave it themselves; Close waits, once.
type callCounter struct {
	// n is the calls running, plus callsWaited once Close waits: the call that leaves it
	// at callsWaited wakes Close.
	n atomic.Int64

	mu   sync.Mutex    // protects idle
	idle chan struct{} // closed when no call runs while Close waits
}

// callsWaited is what callCounter.n gains once Close waits, far above any count of calls.
const callsWaited = 1 << 40

// enter counts a call; leave must follow.
func (k *callCounter) enter() { k.n.Add(1) }

// leave ends a call that enter counted.
func (k *callCounter) leave() {
	if k.n.Add(-1) == callsWaited {
		k.wake()
	}
}

// wake tells Close, which waits, that no call runs.
func (k *callCounter) wake() {
	k.mu.Lock()
	if k.idle != nil {
		close(k.idle)
		k.idle = nil
	}
	k.mu.Unlock()
}

// wait waits until no call runs, or until deadline. It is called once.
func (k *callCounter) wait(deadline time.Time) {
	k.mu.Lock()
	idle := make(chan struct{})
	k.idle = idle
	k.mu.Unlock()
	if k.n.Add(callsWaited) == callsWaited {
		return
	}
	closedBy(idle, deadline)
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
	cn.register()
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
	cn.cfg.ReadersMax = cn.cfg.readersMax(cn.cfg.Readers)
	if cn.cfg.WALLimit == 0 && !cn.cfg.ExternalCheckpoints {
		cn.cfg.WALLimit = defaultWALLimit
	}
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
func (cn *Connector) Driver() driver.Driver {
	if cn.driver != nil {
		return cn.driver
	}
	return defaultDriver
}

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
		w := newWriter(cn.cfg.WriteWait, cn.cfg.BatchMax)
		cn.reportLongWaits(w)
		switch {
		case w.batchMax != 0:
		case cn.drv.ConnectHook != nil:
			// A ConnectHook may install commit, rollback or update hooks, which would see
			// one commit for a batch of writes: group commit is for it to ask for.
			w.batchMax = 1
		default:
			w.batchMax = defaultBatchMax
		}
		w.checkpoint.wait = cn.cfg.WriteWait / 4
		w.checkpoint.reads = &cn.reads
		if cn.cfg.WALLimit > 0 {
			w.checkpoint.limit = cn.cfg.WALLimit
		}
		w.open = func() (*physConn, error) {
			p, wal, err := cn.openWriter(w)
			if err == nil && wal && w.checkpoint.walPath == "" {
				w.checkpoint.walPath = p.GetFilename("main") + "-wal"
			}
			return p, err
		}
		if cn.fileInWAL() {
			// Nothing to switch: the writer opens when a unit of work first needs it, so a
			// *sql.DB that only reads opens one connection, as mattn's does.
			cn.writerDeferred = true
		} else {
			p, err := w.open()
			if err != nil {
				return err
			}
			if w.checkpoint.walPath == "" {
				g = newGate(cn.cfg.WriteWait)
			}
			w.conn = p
		}
		w.gate = g
		cn.writer = w
	}
	cn.gate = g
	cn.readers = newReaderPool(cn.cfg.Readers, cn.cfg.ReadersMax, cn.openReader, g)
	cn.readers.reads = &cn.reads
	cn.readers.writer = cn.writer
	cn.reads.pool = cn.readers
	cn.router = newRouter(cn.openReader, g)
	cn.exclusive.Store(cn.topo.exclusive && cn.writer != nil)
	if cn.writerDeferred {
		// A reader that read the file holds it as the writer would have: another process
		// cannot change its journal mode under the connector, and what would fail to open
		// fails here.
		if err := cn.holdFile(); err != nil {
			cn.readers.close()
			cn.router.close()
			return err
		}
	}
	cn.started = true
	return nil
}

// holdFile opens a reader, reads the database with it and keeps it in the pool.
func (cn *Connector) holdFile() error {
	r, err := cn.readers.get(context.Background(), false)
	if err != nil {
		return err
	}
	rows, err := r.QueryContext(context.Background(), "SELECT 1 FROM sqlite_schema LIMIT 1", nil)
	if err == nil {
		err = rows.Close()
	}
	cn.readers.put(r, err != nil, false)
	return err
}

// fileInWAL reports whether the database is a file, named by a plain path, whose header
// says it is in WAL mode, for a DSN that leaves the journal mode and the locking mode to
// the driver: its writer would find nothing to switch.
func (cn *Connector) fileInWAL() bool {
	t := cn.topo
	if t.memory || t.readOnly || t.journalChosen || t.exclusive {
		return false
	}
	q := splitQuery(t.writerDSN)
	if q.has("_auto_vacuum") || q.has("_vacuum") {
		return false // keys only the writer applies, whose errors Ping must report
	}
	path := q.base
	if strings.HasPrefix(path, "file:") {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var header [20]byte
	if _, err := f.ReadAt(header[:], 0); err != nil {
		return false
	}
	// The file format's write and read versions are 2 in WAL mode.
	return string(header[:16]) == "SQLite format 3\x00" && header[18] == 2 && header[19] == 2
}

// physConn is one physical connection of a connector.
type physConn struct {
	*sqlite3.SQLiteConn
	// reader is set for readers and the classifier, which stay query-only.
	reader bool
	// slot is set for a placeholder the reader pool sends a waiter: a slot to open a
	// reader in, counted as handed out since readEpoch.
	slot bool
	// session is set for a session's own connection once it has applied the settings made
	// before it opened.
	session bool
	// pragmaGen is the generation of broadcast pragma settings the connection applied. Only
	// the connection's current user touches it.
	pragmaGen uint64
	// readEpoch is the epoch the read on a reader began in (see readEpochs).
	readEpoch uint64
	// fileEpoch is the reader pool's file epoch when the reader last read the file's
	// header (see readerPool.refresh). Only the reader's current user touches it.
	fileEpoch uint64
	// schemaEpoch is the router's schema epoch when the reader last read the schema to
	// judge a statement (see router.judgeOn). Only the reader's current user touches it.
	schemaEpoch uint64
	closed      atomic.Bool
	// h is the connection's sqlite3 handle, for the calls mattn does not expose.
	h dbHandle
	// rec is the connection's authorizer, on a classifier and on a reader that judged a
	// statement (see router.judgeOn); nil elsewhere. Only the connection's user uses it.
	rec *route.Recorder
	// ledger makes the connection report the last_insert_rowid() and changes() of the
	// session whose statement runs on it (see lastchange.go). Only the connection's user
	// touches it.
	ledger changeLedger

	// statements are the session statements prepared on the connection; dropped are those
	// closed since the connection's user last prepared one, which that user finalizes.
	preparedMu sync.Mutex
	statements map[*stmt]*sqlite3.SQLiteStmt
	dropped    []*sqlite3.SQLiteStmt
	// control are the driver's own transaction statements (BEGIN IMMEDIATE, COMMIT,
	// ROLLBACK, ...) prepared on the connection, by text.
	control map[string]*sqlite3.SQLiteStmt
}

// run runs one of the driver's own transaction statements on p, prepared once per
// connection: a transaction's BEGIN and COMMIT are on the path of every write. Only p's
// current user calls it. The result carries the connection's last_insert_rowid() and
// changes(), which those statements leave as they were.
func (p *physConn) run(ctx context.Context, query string) (driver.Result, error) {
	p.preparedMu.Lock()
	h := p.control[query]
	p.preparedMu.Unlock()
	if h == nil {
		ds, err := p.PrepareContext(context.Background(), query)
		if err != nil {
			return nil, err
		}
		h = ds.(*sqlite3.SQLiteStmt)
		p.preparedMu.Lock()
		if p.control == nil {
			p.control = make(map[string]*sqlite3.SQLiteStmt)
		}
		p.control[query] = h
		p.preparedMu.Unlock()
	}
	return h.ExecContext(ctx, nil)
}

// setExclusive records the database's locking mode. Entering exclusive mode closes the
// classifier and the idle readers: SQLite gives the writer the file only once no other
// connection has it open (in WAL mode they hold its shared memory). Readers in use are
// closed as they come back.
func (cn *Connector) setExclusive(on bool) {
	cn.exclusive.Store(on)
	cn.readers.closeIdle(on)
	if on {
		cn.router.closeClassifiers()
	}
}

// openTemp opens the connection's temp database, after which database_list lists it. Only
// p's current user calls it.
func (p *physConn) openTemp() error {
	_, err := p.ExecContext(context.Background(), "SELECT 1 FROM temp.sqlite_schema LIMIT 0", nil)
	return err
}

// endTx ends the connection's transaction with COMMIT, or with ROLLBACK when commit is
// false. A COMMIT that SQLite refuses is followed by a ROLLBACK, as mattn/go-sqlite3 does:
// the transaction is over either way. The result is the ending statement's.
func (p *physConn) endTx(commit bool) (driver.Result, error) {
	if !commit {
		return p.run(context.Background(), "ROLLBACK")
	}
	res, err := p.run(context.Background(), "COMMIT")
	if err != nil && !p.AutoCommit() {
		_, _ = p.run(context.Background(), "ROLLBACK")
	}
	return res, err
}

// openPhysical counts the physical connections open in the process, for leak checks.
var openPhysical atomic.Int64

// newPhysConn makes c a physical connection of the driver, with its changes() override; on
// failure it closes c.
func newPhysConn(c *sqlite3.SQLiteConn, reader bool) (*physConn, error) {
	p := &physConn{SQLiteConn: c, reader: reader, h: handleOf(c)}
	if err := registerChangeFunctions(p); err != nil {
		c.Close()
		return nil, err
	}
	openPhysical.Add(1)
	return p, nil
}

// Close closes the connection, once, finalizing the statements prepared on it first. Only
// the connection's user, or the last one, closes it.
func (p *physConn) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.preparedMu.Lock()
	for s, h := range p.statements {
		h.Close()
		delete(p.statements, s)
		s.mu.Lock()
		delete(s.used, p)
		s.mu.Unlock()
	}
	p.finalizeDroppedLocked()
	for query, h := range p.control {
		h.Close()
		delete(p.control, query)
	}
	p.preparedMu.Unlock()
	openPhysical.Add(-1)
	if p.rec != nil {
		if closedUnderneath(p) {
			p.rec.Abandon()
		} else {
			p.rec.Free(unsafe.Pointer(p.h))
		}
	}
	return p.SQLiteConn.Close()
}

// prepared returns s prepared on p, preparing it the first time. Only p's current user
// calls it.
func (p *physConn) prepared(s *stmt) (*sqlite3.SQLiteStmt, error) {
	p.preparedMu.Lock()
	defer p.preparedMu.Unlock()
	if h := p.statements[s]; h != nil {
		return h, nil
	}
	p.finalizeDroppedLocked()
	ds, err := p.PrepareContext(context.Background(), s.query)
	if err != nil {
		return nil, err
	}
	h := ds.(*sqlite3.SQLiteStmt)
	if p.statements == nil {
		p.statements = make(map[*stmt]*sqlite3.SQLiteStmt)
	}
	p.statements[s] = h
	s.mu.Lock()
	if s.used == nil {
		s.used = make(map[*physConn]bool)
	}
	s.used[p] = true
	s.mu.Unlock()
	return h, nil
}

// dropPrepared forgets s on p. It may run while another session uses p, so the statement
// is not finalized here: finalizing it would wait for that session's statement to finish a
// step (SQLite serializes the two), and with _mutex=no it would be unsafe. The connection's
// next user that prepares a statement, or its Close, finalizes it.
func (p *physConn) dropPrepared(s *stmt) {
	p.preparedMu.Lock()
	defer p.preparedMu.Unlock()
	if h := p.statements[s]; h != nil {
		delete(p.statements, s)
		if p.closed.Load() {
			// The connection is being closed by its user, who no longer steps it, and
			// would not find the statement: finalize it here.
			h.Close()
			return
		}
		p.dropped = append(p.dropped, h)
	}
}

// finalizeDroppedLocked finalizes the statements dropPrepared forgot. It is called with
// preparedMu held, by the connection's user.
func (p *physConn) finalizeDroppedLocked() {
	for i, h := range p.dropped {
		h.Close()
		p.dropped[i] = nil
	}
	p.dropped = p.dropped[:0]
}

// openConn opens a physical connection with the connector's mattn driver.
func (cn *Connector) openConn(dsn string) (*sqlite3.SQLiteConn, error) {
	dc, err := cn.drv.Open(dsn)
	if err != nil {
		return nil, err
	}
	c := dc.(*sqlite3.SQLiteConn)
	if cn.cfg.ExternalCheckpoints {
		// Close runs no checkpoint: not the driver's, nor SQLite's own when the last
		// connection on the file closes, which would checkpoint and delete the WAL.
		if err := noCheckpointOnClose(handleOf(c)); err != nil {
			c.Close()
			return nil, err
		}
	}
	if cn.topo.busyTimeout < minBusyTimeout {
		// SQLite's own brief locks between the connections of one process (a reader
		// reading the WAL index as the writer changes it) must not surface as "database is
		// locked": a busy timeout of 0 would return them at once.
		q := fmt.Sprintf("PRAGMA busy_timeout = %d", minBusyTimeout.Milliseconds())
		if _, err := c.ExecContext(context.Background(), q, nil); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// minBusyTimeout is the least busy timeout the driver's connections have, whatever the DSN
// says: enough for the microseconds SQLite holds its internal locks, short enough that
// another process's lock still fails fast.
const minBusyTimeout = 250 * time.Millisecond

// openWriter opens the writer for w and switches a file database to WAL, unless the DSN
// chose a journal mode. It reports whether the database is in WAL mode.
func (cn *Connector) openWriter(w *writer) (*physConn, bool, error) {
	c, err := cn.openConn(cn.topo.writerDSN)
	if err != nil {
		return nil, false, err
	}
	pragma := "PRAGMA journal_mode"
	if !cn.topo.memory && !cn.topo.journalChosen {
		pragma = "PRAGMA journal_mode = WAL"
	}
	mode, err := queryText(c, pragma)
	if err != nil {
		c.Close()
		return nil, false, err
	}
	if err := cn.leaveCheckpoints(c); err != nil {
		c.Close()
		return nil, false, err
	}
	p, err := newPhysConn(c, false)
	return p, strings.EqualFold(mode, "wal"), err
}

// leaveCheckpoints turns SQLite's automatic checkpoints off on c, a connection that may
// write, when checkpoints are left to another process (Config.ExternalCheckpoints).
func (cn *Connector) leaveCheckpoints(c *sqlite3.SQLiteConn) error {
	if !cn.cfg.ExternalCheckpoints {
		return nil
	}
	_, err := c.ExecContext(context.Background(), "PRAGMA wal_autocheckpoint = 0", nil)
	return err
}

// openReader opens a reader, or the classifier: a connection that cannot write.
func (cn *Connector) openReader() (*physConn, error) {
	c, err := cn.openConn(cn.topo.readerDSN)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(context.Background(), "PRAGMA query_only = 1", nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("sqliteserial: making a reader query-only: %w", err)
	}
	return newPhysConn(c, true)
}

// openSession opens the connection of a session that keeps state of its own.
func (cn *Connector) openSession() (*physConn, error) {
	c, err := cn.openConn(cn.topo.sessionDSN)
	if err != nil {
		return nil, err
	}
	if err := cn.leaveCheckpoints(c); err != nil {
		c.Close()
		return nil, err
	}
	p, err := newPhysConn(c, false)
	if err != nil {
		return nil, err
	}
	if err := cn.pragmas.sync(p); err != nil {
		p.Close()
		return nil, err
	}
	cn.adoptSession(p)
	return p, nil
}

// adoptSession counts p, opened for a session, as a session's own connection.
func (cn *Connector) adoptSession(p *physConn) {
	p.session, p.reader = true, false
	cn.sessions.opened.Add(1)
	cn.sessions.open.Add(1)
}

// closeSession closes a session's connection.
func (cn *Connector) closeSession(p *physConn) {
	p.Close()
	cn.sessions.open.Add(-1)
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

// Close implements io.Closer; (*sql.DB).Close calls it. It refuses new work at once and
// lets the calls running inside the driver finish, for closeWait at most; it never waits
// for what the program left open (rows, a transaction, a *sql.Conn), whose connections are
// closed as they are released, as database/sql closes its own. It then checkpoints the WAL
// into the database file, if nothing holds the writer, without waiting for readers of other
// processes, and closes every physical connection not in use. It returns an error only
// when closing a connection fails. Close starts no goroutine and leaves none behind.
func (cn *Connector) Close() error {
	cn.startMu.Lock()
	if cn.closed.Swap(true) || !cn.started {
		cn.startMu.Unlock()
		connectors.Delete(cn.number)
		return nil
	}
	connectors.Delete(cn.number)
	cn.startMu.Unlock()
	if cn.writer != nil {
		cn.writer.refuse()
	}
	cn.readers.close()
	cn.gate.shut()
	cn.calls.wait(time.Now().Add(min(cn.cfg.WriteWait, closeWait)))
	cn.router.close()
	if cn.writer != nil {
		return cn.writer.shutdown(!cn.topo.memory && !cn.cfg.ExternalCheckpoints)
	}
	return nil
}

// closeWait bounds how long Close lets the calls running inside the driver finish.
const closeWait = time.Second

// Stats returns the connector's counters. Before its first connection it returns zeros.
func (cn *Connector) Stats() Stats {
	s := Stats{
		ReadRoutes:    cn.routes.reader.Load(),
		WriteRoutes:   cn.routes.writer.Load(),
		PinnedRoutes:  cn.routes.pinned.Load(),
		RetriedRoutes: cn.routes.retried.Load(),

		SessionConnsOpen:   int(cn.sessions.open.Load()),
		SessionConnsOpened: cn.sessions.opened.Load(),
	}
	cn.startMu.Lock()
	w, readers := cn.writer, cn.readers
	cn.startMu.Unlock()
	if w != nil {
		ws, ts, depth := w.snapshot()
		s.WriterQueueDepth = depth
		s.WriterUnits, s.WriterWaits, s.WriterGaveUp = ts.Units, ts.Waits, ts.GaveUp
		s.WriterWaitTotal, s.WriterWaitMax = ts.WaitTotal, ts.WaitMax
		s.WriterHoldTotal, s.WriterHoldMax = ts.HoldTotal, ts.HoldMax
		s.Checkpoints, s.CheckpointsIncomplete = ws.checkpoints.runs, ws.checkpoints.incomplete
		s.CheckpointsBlocked = ws.checkpoints.blocked
		s.Batches, s.BatchedWrites, s.BatchMax, s.BatchesRolledBack = ws.batches, ws.batched, ws.batchMax, ws.batchesRolledBack
		s.WriterHeldBy, s.WriterHeldFor = w.holder()
		wait, hold := w.turn.Times()
		s.WriterWaitTimes, s.WriterHoldTimes = durationHistogram(wait), durationHistogram(hold)
		s.BatchSizes = sizeHistogram(&w.batchSizes)
	}
	if readers != nil {
		rs, open, inUse := readers.snapshot()
		s.ReadersOpen, s.ReadersInUse, s.ReadersMaxInUse = open, inUse, rs.maxInUse
		s.ReadersOpened, s.ReaderAcquisitions, s.ReadersOverflowed = rs.opened, rs.acquired, rs.overflowed
		s.ReadsYielded = readers.yields.Load()
		s.ReaderWaitTimes = durationHistogram(&readers.waitTimes)
	}
	return s
}
