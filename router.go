//go:build cgo

package sqliteserial

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/sqlite-serial/sqlite-serial/internal/route"
)

// noJudgement is the classification of what the driver runs itself (BEGIN, a snapshot
// read): nothing to route and nothing left behind.
var noJudgement = &route.Classification{}

// routeCacheLimit and routeCacheBytes bound the cached judgements, in number and in the
// bytes of their texts; past either the cache starts over. routeTextLimit is the longest
// text whose judgement is cached: a program that inlines values into its SQL makes every
// text new, and a long one (an INSERT with a large inline value) is judged again if it
// comes again, rather than kept alive.
const (
	routeCacheLimit = 4096
	routeCacheBytes = 4 << 20
	routeTextLimit  = 16 << 10
)

// routeCache maps SQL text to its classification.
type routeCache struct {
	m     sync.Map // string -> *classification
	n     atomic.Int64
	bytes atomic.Int64
}

// router classifies statements by preparing them on query-only connections of its own,
// classifiers, with an authorizer that reports what each statement touches. A classifier
// never runs a statement, so the authorizer never meets a user's statement on a reader or
// the writer, and never replaces an authorizer a ConnectHook installed there.
//
// Judgements run in parallel, each on a classifier of its own, up to classifierLimit at
// once; a judgement that finds none free waits for one.
type router struct {
	open func() (*physConn, error)
	gate *gate // shared while a classifier prepares, when the database has no WAL

	cache atomic.Pointer[routeCache]
	// schemaEpoch counts the schema changes made through the driver (invalidate). A
	// classifier reads the schema again before its next judgement once it moved.
	schemaEpoch atomic.Uint64

	// mu guards the pool of classifiers: idle are the free ones, opened counts every one
	// open or being opened; freed is signalled when one is given back.
	mu     sync.Mutex
	freed  *sync.Cond
	closed bool
	gen    uint64 // closeClassifiers moves it: classifiers of an older generation close on return
	idle   []*classifier
	opened int
}

// classifierLimit is how many statements are judged at once.
var classifierLimit = min(max(runtime.GOMAXPROCS(0), 2), 8)

// classifier is one connection the router judges statements on, with its recorder
// installed. Owner: the judgement that took it from the pool; epoch is the schema epoch it
// last read the schema at.
type classifier struct {
	conn  *physConn
	epoch uint64
	gen   uint64
}

func newRouter(open func() (*physConn, error), g *gate) *router {
	r := &router{open: open, gate: g}
	r.freed = sync.NewCond(&r.mu)
	r.cache.Store(new(routeCache))
	return r
}

// lookup returns the cached classification of query.
func (r *router) lookup(query string) (*route.Classification, bool) {
	v, ok := r.cache.Load().m.Load(query)
	if !ok {
		return nil, false
	}
	return v.(*route.Classification), true
}

// remember caches cls for query, unless query is longer than routeTextLimit.
func (r *router) remember(query string, cls *route.Classification) {
	if len(query) > routeTextLimit {
		return
	}
	c := r.cache.Load()
	if _, loaded := c.m.Swap(query, cls); !loaded {
		n, b := c.n.Add(1), c.bytes.Add(int64(len(query)))
		if n > routeCacheLimit || b > routeCacheBytes {
			r.cache.CompareAndSwap(c, new(routeCache))
		}
	}
}

// invalidate drops every cached classification and makes every classifier read the schema
// again before its next judgement; it runs after a schema change.
func (r *router) invalidate() {
	r.schemaEpoch.Add(1)
	r.cache.Store(new(routeCache))
}

// classify returns the classification of query, from the cache or by preparing it. gated
// tells whether the classifier must take a share of the gate: not when the caller holds the
// writer, which keeps every reader out already.
func (r *router) classify(ctx context.Context, query string, gated bool) (*route.Classification, error) {
	if cls, ok := r.lookup(query); ok {
		return cls, nil
	}
	cls, err := r.judge(ctx, query, gated)
	if err != nil {
		return nil, err
	}
	if cls.Known {
		r.remember(query, cls)
	}
	return cls, nil
}

// judge prepares every statement of query on the classifier and combines SQLite's
// judgement (sqlite3_stmt_readonly) with what the authorizer saw.
func (r *router) judge(ctx context.Context, query string, gated bool) (*route.Classification, error) {
	cls, statements := route.JudgeWords(query)
	if len(statements) == 0 {
		return cls, nil
	}
	if gated {
		if err := r.gate.acquireShared(ctx); err != nil {
			return nil, err
		}
		defer r.gate.releaseShared()
	}
	return r.judgePrepared(cls, statements)
}

// judgePrepared completes cls, the judgement of statements by their words, by preparing
// each on a classifier.
func (r *router) judgePrepared(cls *route.Classification, statements []route.Statement) (*route.Classification, error) {
	cl, err := r.take()
	if err != nil {
		return nil, err
	}
	if epoch := r.schemaEpoch.Load(); cl.epoch != epoch {
		// The classifier's copy of the schema may be older than the database's (see
		// route.Recorder.Judge).
		readSchema(cl.conn)
		cl.epoch = epoch
	}
	broken := cl.conn.rec.Judge(cl.conn.SQLiteConn, cls, statements)
	r.give(cl, broken)
	return cls, nil
}

// judgeOn judges the one statement st of query, whose judgement by its words is cls, by
// preparing it on p, a reader the caller holds, with the router's authorizer: the
// connector installs no authorizer of a ConnectHook there (see conn.judgeOnReader). It
// returns the judgement and, when the statement is known to only read, the prepared
// statement, which the caller runs on p and closes. Only p's user calls it.
func (r *router) judgeOn(p *physConn, cls *route.Classification, st route.Statement) (*route.Classification, *sqlite3.SQLiteStmt) {
	if p.rec == nil {
		rec, err := route.Install(unsafe.Pointer(p.h))
		if err != nil {
			cls.Unknown([]route.Statement{st})
			return cls, nil
		}
		p.rec = rec
	}
	if epoch := r.schemaEpoch.Load(); p.schemaEpoch != epoch {
		// As for a classifier (see judgePrepared).
		readSchema(p)
		p.schemaEpoch = epoch
	}
	return cls, p.rec.JudgeOne(p.SQLiteConn, cls, st)
}

// take returns a free classifier, opening one while fewer than classifierLimit are open,
// and otherwise waiting for one to be given back. The caller gives it back with give.
func (r *router) take() (*classifier, error) {
	r.mu.Lock()
	for {
		if r.closed {
			r.mu.Unlock()
			return nil, ErrClosed
		}
		if n := len(r.idle); n > 0 {
			cl := r.idle[n-1]
			r.idle[n-1] = nil
			r.idle = r.idle[:n-1]
			r.mu.Unlock()
			return cl, nil
		}
		if r.opened < classifierLimit {
			break
		}
		r.freed.Wait()
	}
	r.opened++
	gen := r.gen
	r.mu.Unlock()
	cl, err := r.openClassifier()
	if err != nil {
		r.mu.Lock()
		r.opened--
		r.freed.Signal()
		r.mu.Unlock()
		return nil, err
	}
	cl.gen = gen
	return cl, nil
}

// give gives cl back to the pool, or closes it: when it is broken, when the router closed,
// or when closeClassifiers ran since it was taken.
func (r *router) give(cl *classifier, broken bool) {
	r.mu.Lock()
	keep := !broken && !r.closed && cl.gen == r.gen
	if keep {
		r.idle = append(r.idle, cl)
	} else {
		r.opened--
	}
	r.freed.Signal()
	r.mu.Unlock()
	if !keep {
		cl.conn.Close()
	}
}

// openClassifier opens a classifier and installs its authorizer. On a database without
// WAL a classifier never waits for a lock: the unit of work that holds the writer may hold
// one that keeps every reader out (memdb refuses readers while a write transaction is
// open; a rollback journal does once the writer's lock is EXCLUSIVE), and that unit's own
// statements are what the classifier is asked about then. Failing at once, such a statement
// is judged unknown and goes to the writer, where the unit runs it anyway; the gate keeps
// the classifiers apart from the writer at every other time.
func (r *router) openClassifier() (*classifier, error) {
	c, err := r.open()
	if err != nil {
		return nil, err
	}
	if r.gate != nil {
		if _, err := c.ExecContext(context.Background(), "PRAGMA busy_timeout = 0", nil); err != nil {
			c.Close()
			return nil, err
		}
	}
	if c.rec, err = route.Install(unsafe.Pointer(c.h)); err != nil {
		c.Close()
		return nil, err
	}
	// A new connection reads the schema at its first prepare.
	return &classifier{conn: c, epoch: r.schemaEpoch.Load()}, nil
}

// readSchema makes p read the database, which reloads its copy of the schema if another
// connection changed it. A failure here shows again in the prepare that follows.
func readSchema(p *physConn) {
	if rows, err := p.QueryContext(context.Background(), "SELECT 1 FROM sqlite_schema LIMIT 1", nil); err == nil {
		rows.Close()
	}
}

// closeClassifiers closes the idle classifiers, and those in use as they are given back;
// later judgements open others.
func (r *router) closeClassifiers() {
	r.mu.Lock()
	idle := r.idle
	r.idle = nil
	r.opened -= len(idle)
	r.gen++
	r.freed.Broadcast()
	r.mu.Unlock()
	for _, cl := range idle {
		cl.conn.Close()
	}
}

// close closes the classifiers, those in use as they are given back; later judgements
// fail with ErrClosed.
func (r *router) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.closeClassifiers()
}
