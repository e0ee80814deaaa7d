//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql/driver"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// route is where a statement runs.
type route uint8

const (
	toReader route = iota
	toWriter
)

// classification is the router's judgement of one SQL string. Once made it is not
// changed: placements and the cache share it.
type classification struct {
	route route
	// known is set when SQLite prepared every statement of the string on the classifier.
	// An unknown string goes to the writer and is not cached.
	known bool
	// pins is set when the string leaves state on its connection that must not spread to
	// other sessions (temp objects, attached databases, a per-session pragma setting): the
	// session moves to a connection of its own first.
	pins bool
	// schema is set when the string may change the schema: once it ran, cached judgements
	// are dropped.
	schema bool
	// dml is set when the string inserts, updates or deletes rows, which sets
	// last_insert_rowid() and changes().
	dml bool
	// txControl is set when the string begins or ends a transaction or a savepoint.
	txControl bool
	// settings are the broadcast pragma settings the string makes.
	settings []pragmaSetting
	// numInput is the parameter count of the string's first statement, which is what a
	// prepared statement binds.
	numInput int
	// empty is set when the string holds no statement for SQLite, only white space and
	// comments before its end or a NUL byte.
	empty bool
	// settles is set for a string that is one INSERT, REPLACE, UPDATE or DELETE (behind WITH
	// or not): sent through Query outside a transaction, it runs to completion in a
	// transaction of its own before Query returns (see settleWrite).
	settles bool
	// mayChange is set for an unknown string one of whose statements begins with INSERT,
	// REPLACE, UPDATE, DELETE or WITH: it may set last_insert_rowid() and changes().
	mayChange bool
	// readsOnly is set for a known string that SQLite judges read-only throughout and that
	// has no statement of the writer's keywords: on the writer too it changes nothing (a
	// read of last_insert_rowid(), say), so a session's snapshots stay valid after it.
	readsOnly bool
	// fileChange is set for a string that may change a setting SQLite keeps in the database
	// file's header and answers from what a connection last read of it (VACUUM, a setting
	// of page_size, auto_vacuum or encoding): once it ran, readers read the file again
	// before they answer (see readerPool.fileChanged).
	fileChange bool
	// beginsTx is set for a string with a BEGIN or SAVEPOINT statement.
	beginsTx bool
	// lockingMode is EXCLUSIVE or NORMAL for a string that sets the main database's locking
	// mode: the connector runs everything on the writer in exclusive mode (see conn.choose).
	lockingMode string
	// destroys is set for a string that drops a table or an index: SQLite refuses that while
	// the connection has other statements under way. drops is set for one with a DROP.
	destroys, drops bool
	// returns is set for one INSERT, REPLACE, UPDATE or DELETE (behind WITH or not) with a
	// RETURNING clause, as far as a look at its words tells: mattn's Exec of it reports the
	// changes() of before it when it returns a row (see conn.execReturning).
	returns bool
	// opensTemp is set for a string that opens the temp database of the connection it runs
	// on (a statement on the temp schema, an integrity check of every database), after
	// which database_list lists it there; listsDatabases for one that reads database_list.
	// A session's database_list answers as its own connection would (see conn.choose).
	opensTemp, listsDatabases bool
}

// writerKeywords are the first words of statements that always go to the writer, whatever
// sqlite3_stmt_readonly says: it calls BEGIN, COMMIT, SAVEPOINT, ATTACH and DETACH
// read-only, and REINDEX of a table without indexes too.
var writerKeywords = map[string]bool{
	"INSERT": true, "REPLACE": true, "UPDATE": true, "DELETE": true,
	"CREATE": true, "DROP": true, "ALTER": true, "REINDEX": true, "ANALYZE": true, "VACUUM": true,
	"ATTACH": true, "DETACH": true,
	"BEGIN": true, "COMMIT": true, "END": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true,
}

// Sets of first words, for what the authorizer does not tell.
var (
	schemaKeywords    = map[string]bool{"CREATE": true, "DROP": true, "ALTER": true}
	dmlKeywords       = map[string]bool{"INSERT": true, "REPLACE": true, "UPDATE": true, "DELETE": true}
	txControlKeywords = map[string]bool{"BEGIN": true, "COMMIT": true, "END": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true}
	sessionKeywords   = map[string]bool{"ATTACH": true, "DETACH": true}
)

// connectionFunctions are the SQL functions whose value is per connection.
var connectionFunctions = map[string]bool{
	"last_insert_rowid": true, "changes": true, "total_changes": true, "load_extension": true,
}

// noJudgement is the classification of what the driver runs itself (BEGIN, a snapshot
// read): nothing to route and nothing left behind.
var noJudgement = &classification{}

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

// classifier is one connection the router judges statements on. Owner: the judgement that
// took it from the pool; seen is what the authorizer reports for the statement being
// prepared, epoch the schema epoch it last read the schema at.
type classifier struct {
	conn  *physConn
	seen  *statementEvents
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
func (r *router) lookup(query string) (*classification, bool) {
	v, ok := r.cache.Load().m.Load(query)
	if !ok {
		return nil, false
	}
	return v.(*classification), true
}

// remember caches cls for query, unless query is longer than routeTextLimit.
func (r *router) remember(query string, cls *classification) {
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
func (r *router) classify(ctx context.Context, query string, gated bool) (*classification, error) {
	if cls, ok := r.lookup(query); ok {
		return cls, nil
	}
	cls, err := r.judge(ctx, query, gated)
	if err != nil {
		return nil, err
	}
	if cls.known {
		r.remember(query, cls)
	}
	return cls, nil
}

// judge prepares every statement of query on the classifier and combines SQLite's
// judgement (sqlite3_stmt_readonly) with what the authorizer saw.
func (r *router) judge(ctx context.Context, query string, gated bool) (*classification, error) {
	cls, statements := judgeWords(query)
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

// judgeWords classifies query by the first words of its statements alone, and returns them.
func judgeWords(query string) (*classification, []statementText) {
	statements := splitStatements(query)
	cls := &classification{route: toReader, known: true, readsOnly: true}
	if len(statements) == 0 {
		cls.empty = true
		return cls, nil
	}
	if nul := strings.IndexByte(query, 0); nul >= 0 {
		// SQLite reads no further than a NUL byte.
		cls.empty = len(splitStatements(query[:nul])) == 0
	}
	for _, st := range statements {
		if writerKeywords[st.keyword] {
			cls.route, cls.readsOnly = toWriter, false
		}
		cls.schema = cls.schema || schemaKeywords[st.keyword]
		cls.dml = cls.dml || dmlKeywords[st.keyword]
		cls.txControl = cls.txControl || txControlKeywords[st.keyword]
		cls.pins = cls.pins || sessionKeywords[st.keyword]
		cls.fileChange = cls.fileChange || st.keyword == "VACUUM"
		cls.drops = cls.drops || st.keyword == "DROP"
		cls.beginsTx = cls.beginsTx || st.keyword == "BEGIN" || st.keyword == "SAVEPOINT"
		cls.returns = len(statements) == 1 && (dmlKeywords[st.keyword] || st.keyword == "WITH") &&
			strings.Contains(strings.ToUpper(st.sql), "RETURNING")
		cls.mayChange = cls.mayChange || dmlKeywords[st.keyword] || st.keyword == "WITH"
		if st.keyword == "PRAGMA" {
			if mode, ok := lockingModeSetting(st.sql); ok {
				cls.lockingMode = mode
			}
		}
	}
	return cls, statements
}

// unpreparedJudgement is the judgement of query when no connection may prepare it (in
// exclusive locking mode only the writer can read the file): by its words, run on the
// writer.
func unpreparedJudgement(query string) *classification {
	cls, statements := judgeWords(query)
	if len(statements) == 0 {
		return cls
	}
	cls.route, cls.known, cls.readsOnly = toWriter, false, false
	cls.settles = len(statements) == 1 && dmlKeywords[statements[0].keyword]
	return cls
}

// lockingModeSetting reads a statement that sets the main database's locking mode, PRAGMA
// [main.]locking_mode = MODE (or (MODE)), and returns MODE in upper case.
func lockingModeSetting(sql string) (string, bool) {
	s := strings.ToUpper(strings.Join(strings.FieldsFunc(sql, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '(' || r == ')' || r == '=' || r == ';' || r == '\'' || r == '"'
	}), " "))
	s = strings.Replace(s, "PRAGMA MAIN.", "PRAGMA ", 1)
	mode, ok := strings.CutPrefix(s, "PRAGMA LOCKING_MODE ")
	if !ok || (mode != "EXCLUSIVE" && mode != "NORMAL") {
		return "", false
	}
	return mode, true
}

// judgePrepared completes cls, the judgement of statements by their words, by preparing
// each on a classifier.
func (r *router) judgePrepared(cls *classification, statements []statementText) (*classification, error) {
	cl, err := r.take()
	if err != nil {
		return nil, err
	}
	broken := false
	defer func() { r.give(cl, broken) }()
	if epoch := r.schemaEpoch.Load(); cl.epoch != epoch {
		// The classifier's copy of the schema may be older than the database's: SQLite
		// reloads it when a statement reads the database, not when one is prepared, and
		// the judgement of some statements depends on it (EXPLAIN REINDEX of a table that
		// gained an index).
		cl.refreshSchema()
		cl.epoch = epoch
	}
	for i, st := range statements {
		ev := statementEvents{sql: st.sql}
		// A prepare that fails on a copy of the schema older than the file's (a table
		// another process created since) makes SQLite read the schema again and retry.
		s, err := cl.prepare(st.sql, &ev)
		if err != nil {
			var sqliteErr sqlite3.Error
			// A classifier that fails otherwise than with SQLite's error is broken: it is
			// replaced. An unknown string goes to the writer, or to the session's own
			// connection, which may know what the classifier does not (temp tables,
			// attachments).
			broken = !errors.As(err, &sqliteErr)
			cls.route, cls.known, cls.settings, cls.readsOnly = toWriter, false, nil, false
			cls.settles = len(statements) == 1 && dmlKeywords[statements[0].keyword]
			return cls, nil
		}
		ss := s.(*sqlite3.SQLiteStmt)
		cls.absorb(st, ss, &ev, i == 0)
		ss.Close()
	}
	cls.settle(len(statements))
	return cls, nil
}

// absorb adds to cls SQLite's judgement of st, prepared as ss, and what the authorizer
// reported while it was prepared; first is set for the string's first statement.
func (cls *classification) absorb(st statementText, ss *sqlite3.SQLiteStmt, ev *statementEvents, first bool) {
	if first {
		cls.numInput = ss.NumInput()
	}
	readOnly := ss.Readonly()
	if !readOnly || ev.write {
		cls.route = toWriter
	}
	cls.readsOnly = cls.readsOnly && readOnly
	if st.keyword == "EXPLAIN" {
		// EXPLAIN runs nothing: what it explains leaves no state and no setting. It keeps
		// its route, which is conservative.
		return
	}
	cls.dml = cls.dml || (st.keyword == "WITH" && !readOnly && !ev.schema)
	cls.pins = cls.pins || ev.pins
	cls.schema = cls.schema || ev.schema
	cls.txControl = cls.txControl || ev.txControl
	cls.fileChange = cls.fileChange || ev.fileChange
	cls.opensTemp = cls.opensTemp || ev.opensTemp
	cls.destroys = cls.destroys || ev.destroys
	cls.listsDatabases = cls.listsDatabases || ev.listsDatabases
	cls.settings = append(cls.settings, ev.settings...)
}

// settle completes cls once each of its n statements was absorbed.
func (cls *classification) settle(n int) {
	cls.settles = n == 1 && cls.dml && !cls.schema && !cls.txControl && !cls.pins
}

// judgeOn judges the one statement st of query, whose judgement by its words is cls, by
// preparing it on p, a reader the caller holds, with the router's authorizer installed for
// the prepare alone: the connector installs no authorizer of a ConnectHook there (see
// conn.judgeOnReader). It returns the judgement and, when the statement is known to only
// read, the prepared statement, which the caller runs on p and closes; otherwise it closes
// it. Only p's user calls it.
func (r *router) judgeOn(p *physConn, cls *classification, st statementText) (*classification, *sqlite3.SQLiteStmt) {
	if epoch := r.schemaEpoch.Load(); p.schemaEpoch != epoch {
		// As for a classifier (see judgePrepared): the reader's copy of the schema may be
		// older than the one the driver changed.
		if rows, err := p.QueryContext(context.Background(), "SELECT 1 FROM sqlite_schema LIMIT 1", nil); err == nil {
			rows.Close()
		}
		p.schemaEpoch = epoch
	}
	ev := statementEvents{sql: st.sql}
	p.RegisterAuthorizer(ev.observe)
	s, err := p.PrepareContext(context.Background(), st.sql)
	p.RegisterAuthorizer(nil)
	if err != nil {
		cls.route, cls.known, cls.settings, cls.readsOnly = toWriter, false, nil, false
		cls.settles = dmlKeywords[st.keyword]
		return cls, nil
	}
	ss := s.(*sqlite3.SQLiteStmt)
	cls.absorb(st, ss, &ev, true)
	cls.settle(1)
	if cls.route != toReader {
		ss.Close()
		return cls, nil
	}
	return cls, ss
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
	// A new connection reads the schema at its first prepare.
	cl := &classifier{conn: c, epoch: r.schemaEpoch.Load()}
	c.RegisterAuthorizer(cl.observe)
	return cl, nil
}

// prepare prepares one statement on the classifier, with the authorizer reporting to ev.
func (cl *classifier) prepare(query string, ev *statementEvents) (driver.Stmt, error) {
	cl.seen = ev
	defer func() { cl.seen = nil }()
	return cl.conn.PrepareContext(context.Background(), query)
}

// refreshSchema makes the classifier read the database, which reloads its copy of the
// schema if another connection changed it. A failure here shows again in the prepare.
func (cl *classifier) refreshSchema() {
	if rows, err := cl.conn.QueryContext(context.Background(), "SELECT 1 FROM sqlite_schema LIMIT 1", nil); err == nil {
		rows.Close()
	}
}

// statementEvents is what the authorizer reported while one statement was prepared.
type statementEvents struct {
	sql       string // the statement
	write     bool   // it must run on the writer
	pins      bool   // it leaves state on its connection
	schema    bool   // it changes the schema
	txControl bool   // it begins or ends a transaction or savepoint
	// fileChange is set when it sets a value kept in the file's header.
	fileChange bool
	// opensTemp is set when it opens the connection's temp database.
	opensTemp bool
	// destroys is set when it drops a table or an index.
	destroys bool
	// listsDatabases is set when it reads database_list.
	listsDatabases bool
	settings       []pragmaSetting
}

// observe is the classifier's authorizer: it reports to the statement being prepared.
func (cl *classifier) observe(op int, arg1, arg2, database string) int {
	if ev := cl.seen; ev != nil {
		return ev.observe(op, arg1, arg2, database)
	}
	return sqlite3.SQLITE_OK
}

// observe is the authorizer of the statement ev is about, while it is prepared. It never
// denies: it only records.
func (ev *statementEvents) observe(op int, arg1, arg2, database string) int {
	switch op {
	case sqlite3.SQLITE_READ, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE:
		if database == "temp" {
			// A temp table is the session's own; the temp schema table itself is also
			// read and written by statements such as ALTER TABLE, which leave no temp
			// objects, and reads of it answer the same on any connection without them.
			// Either opens the connection's temp database, which database_list then lists.
			ev.write, ev.opensTemp = true, true
			ev.pins = ev.pins || !isSchemaTable(arg1)
		}
	}
	switch op {
	case sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT:
		ev.write, ev.txControl = true, true
	case sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH:
		ev.write, ev.pins = true, true
	case sqlite3.SQLITE_PRAGMA:
		ev.observePragma(strings.ToLower(arg1), arg2, database)
	case sqlite3.SQLITE_READ:
		// A pragma read as a table (SELECT * FROM pragma_query_only) follows the pragma's
		// rule for a read.
		if name, ok := strings.CutPrefix(strings.ToLower(arg1), "pragma_"); ok {
			if kind, known := pragmas[name]; known && kind != pragmaInspect && kind != pragmaFileValue {
				ev.write = true
			}
			ev.listsDatabases = ev.listsDatabases || name == "database_list"
			// As PRAGMA integrity_check does (see observePragma), unless its argument names
			// another schema, which the table-valued form does not show here.
			ev.opensTemp = ev.opensTemp || name == "integrity_check" || name == "quick_check"
		}
	case sqlite3.SQLITE_FUNCTION:
		if connectionFunctions[strings.ToLower(arg2)] {
			ev.write = true
		}
	case sqlite3.SQLITE_CREATE_TEMP_INDEX, sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
		sqlite3.SQLITE_CREATE_TEMP_VIEW, sqlite3.SQLITE_DROP_TEMP_INDEX, sqlite3.SQLITE_DROP_TEMP_TABLE,
		sqlite3.SQLITE_DROP_TEMP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_VIEW:
		ev.write, ev.pins, ev.schema = true, true, true
		ev.destroys = ev.destroys || op == sqlite3.SQLITE_DROP_TEMP_TABLE || op == sqlite3.SQLITE_DROP_TEMP_INDEX
	case sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_TRIGGER,
		sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_TABLE,
		sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_VIEW, sqlite3.SQLITE_ALTER_TABLE,
		sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE, sqlite3.SQLITE_REINDEX, sqlite3.SQLITE_ANALYZE:
		// CREATE TABLE temp.x and virtual tables in temp come this way, not as CREATE_TEMP_*.
		ev.write, ev.schema = true, true
		ev.pins = ev.pins || database == "temp"
		ev.destroys = ev.destroys || op == sqlite3.SQLITE_DROP_TABLE || op == sqlite3.SQLITE_DROP_INDEX
	}
	return sqlite3.SQLITE_OK
}

// isSchemaTable reports whether table is a schema table, such as sqlite_temp_master.
func isSchemaTable(table string) bool {
	switch strings.ToLower(table) {
	case "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema":
		return true
	}
	return false
}

// observePragma records a PRAGMA: its name, its argument (empty for none) and its schema.
func (ev *statementEvents) observePragma(name, arg, schema string) {
	kind := pragmas[name]
	if name == "locking_mode" && arg != "" && (schema == "" || schema == "main") {
		// The whole connector's mode, not the session's (classification.lockingMode).
		ev.write = true
		return
	}
	switch {
	case (name == "integrity_check" || name == "quick_check") && (schema == "" || schema == "temp"):
		// Checking every database opens the connection's temp database (see observe).
		ev.opensTemp = true
	case name == "database_list":
		ev.listsDatabases = true
	}
	switch {
	case kind == pragmaInspect && schema != "temp":
	case kind == pragmaFileValue && arg == "" && schema != "temp":
	default:
		ev.write = true
	}
	if arg == "" {
		return
	}
	ev.fileChange = ev.fileChange || kind == pragmaFileValue
	switch {
	case kind == pragmaBroadcast && (schema == "" || schema == "main"):
		ev.settings = append(ev.settings, pragmaSetting{name: name, sql: ev.sql})
	case kind == pragmaSession || kind == pragmaBroadcast:
		// A setting that must not spread, or one for another schema of the session.
		ev.pins = true
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
