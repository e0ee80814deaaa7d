package sqliteserial

import (
	"context"
	"errors"
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

// classification is the router's judgement of one SQL string.
type classification struct {
	route route
	// known is set when SQLite prepared every statement of the string on the classifier.
	// An unknown string goes to the writer and is not cached.
	known bool
	// pins is set when the string leaves state on its connection (temp schema, attached
	// databases, a pragma setting): the session's later statements must run on the writer.
	pins bool
	// schema is set when the string may change the schema: once it ran, cached judgements
	// are dropped.
	schema bool
	// numInput is the parameter count of the string's first statement, which is what a
	// prepared statement binds.
	numInput int
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

// schemaKeywords are the first words of statements that change the schema.
var schemaKeywords = map[string]bool{"CREATE": true, "DROP": true, "ALTER": true}

// readerPragmas are the pragmas a reader may run. Those marked true take an argument that
// names what to inspect (PRAGMA table_info(t)); the others only read a value of the
// database file and go to a reader only without an argument, since with one they set it.
// Every other pragma, including reads of per-connection settings such as foreign_keys,
// goes to the writer.
var readerPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true,
	"index_info": true, "index_list": true, "index_xinfo": true,
	"foreign_key_list": true, "foreign_key_check": true,
	"integrity_check": true, "quick_check": true,
	"collation_list": true, "function_list": true, "module_list": true, "pragma_list": true,
	"compile_options": true,
	"schema_version":  false, "user_version": false, "application_id": false,
	"freelist_count": false, "page_count": false, "page_size": false, "encoding": false,
	"auto_vacuum": false,
}

// connectionFunctions are the SQL functions whose value is per connection.
var connectionFunctions = map[string]bool{
	"last_insert_rowid": true, "changes": true, "total_changes": true, "load_extension": true,
}

// routeCacheLimit bounds the number of cached judgements. Programs that inline values into
// their SQL make every string new; past the limit the cache starts over.
const routeCacheLimit = 4096

// routeCache maps SQL text to its classification.
type routeCache struct {
	m sync.Map // string -> classification
	n atomic.Int64
}

// router classifies statements by preparing them on its own query-only connection, the
// classifier, with an authorizer that reports what each statement touches. The classifier
// never runs a statement, so the authorizer never meets a user's statement on a reader or
// the writer, and never replaces an authorizer a ConnectHook installed there.
type router struct {
	open func() (*sqlite3.SQLiteConn, error)
	gate *gate // shared while the classifier prepares, when the database has no WAL

	cache atomic.Pointer[routeCache]

	mu         sync.Mutex // serializes the classifier
	closed     bool
	classifier *sqlite3.SQLiteConn
	seen       *statementEvents // what the authorizer reports for the statement being prepared
}

func newRouter(open func() (*sqlite3.SQLiteConn, error), g *gate) *router {
	r := &router{open: open, gate: g}
	r.cache.Store(new(routeCache))
	return r
}

// lookup returns the cached classification of query.
func (r *router) lookup(query string) (classification, bool) {
	v, ok := r.cache.Load().m.Load(query)
	if !ok {
		return classification{}, false
	}
	return v.(classification), true
}

// remember caches cls for query.
func (r *router) remember(query string, cls classification) {
	c := r.cache.Load()
	if _, loaded := c.m.Swap(query, cls); !loaded && c.n.Add(1) > routeCacheLimit {
		r.cache.CompareAndSwap(c, new(routeCache))
	}
}

// invalidate drops every cached classification; it runs after a schema change.
func (r *router) invalidate() {
	r.cache.Store(new(routeCache))
}

// classify returns the classification of query, from the cache or by preparing it. gated
// tells whether the classifier must take a share of the gate: not when the caller holds the
// writer, which keeps every reader out already.
func (r *router) classify(ctx context.Context, query string, gated bool) (classification, error) {
	if cls, ok := r.lookup(query); ok {
		return cls, nil
	}
	cls, err := r.judge(ctx, query, gated)
	if err != nil {
		return classification{}, err
	}
	if cls.known {
		r.remember(query, cls)
	}
	return cls, nil
}

// judge prepares every statement of query on the classifier and combines SQLite's
// judgement (sqlite3_stmt_readonly) with what the authorizer saw.
func (r *router) judge(ctx context.Context, query string, gated bool) (classification, error) {
	statements := splitStatements(query)
	cls := classification{route: toReader, known: true}
	if len(statements) == 0 {
		return cls, nil
	}
	for _, st := range statements {
		if writerKeywords[st.keyword] {
			cls.route = toWriter
		}
		if schemaKeywords[st.keyword] {
			cls.schema = true
		}
	}
	if gated {
		if err := r.gate.acquireShared(ctx); err != nil {
			return classification{}, err
		}
		defer r.gate.releaseShared()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return classification{}, ErrClosed
	}
	if r.classifier == nil {
		c, err := r.open()
		if err != nil {
			return classification{}, err
		}
		c.RegisterAuthorizer(r.observe)
		r.classifier = c
	}
	for i, st := range statements {
		var ev statementEvents
		r.seen = &ev
		s, err := r.classifier.PrepareContext(context.Background(), st.sql)
		r.seen = nil
		if err != nil {
			var sqliteErr sqlite3.Error
			if !errors.As(err, &sqliteErr) {
				// The classifier itself is broken: replace it next time.
				r.classifier.Close()
				r.classifier = nil
			}
			// An unknown string goes to the writer, which may know what the classifier
			// does not (the session's temp tables). It may leave state behind there.
			return classification{route: toWriter, pins: true, schema: cls.schema}, nil
		}
		ss := s.(*sqlite3.SQLiteStmt)
		if i == 0 {
			cls.numInput = ss.NumInput()
		}
		if !ss.Readonly() || ev.write {
			cls.route = toWriter
		}
		cls.pins = cls.pins || ev.pins
		cls.schema = cls.schema || ev.schema
		ss.Close()
	}
	return cls, nil
}

// statementEvents is what the authorizer reported while one statement was prepared.
type statementEvents struct {
	write  bool // it must run on the writer
	pins   bool // it leaves state on its connection
	schema bool // it changes the schema
}

// observe is the classifier's authorizer. It never denies: it only records.
func (r *router) observe(op int, arg1, arg2, database string) int {
	ev := r.seen
	if ev == nil {
		return sqlite3.SQLITE_OK
	}
	if database == "temp" {
		ev.write = true
	}
	switch op {
	case sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT:
		ev.write = true
	case sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH:
		ev.write, ev.pins = true, true
	case sqlite3.SQLITE_PRAGMA:
		name := strings.ToLower(arg1)
		takesName, readable := readerPragmas[name]
		if !readable || database == "temp" || (arg2 != "" && !takesName) {
			ev.write = true
		}
		if arg2 != "" && !takesName {
			ev.pins = true
		}
	case sqlite3.SQLITE_FUNCTION:
		if connectionFunctions[strings.ToLower(arg2)] {
			ev.write = true
		}
	case sqlite3.SQLITE_CREATE_TEMP_INDEX, sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
		sqlite3.SQLITE_CREATE_TEMP_VIEW, sqlite3.SQLITE_DROP_TEMP_INDEX, sqlite3.SQLITE_DROP_TEMP_TABLE,
		sqlite3.SQLITE_DROP_TEMP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_VIEW:
		ev.write, ev.pins, ev.schema = true, true, true
	case sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_TRIGGER,
		sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_TABLE,
		sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_VIEW, sqlite3.SQLITE_ALTER_TABLE,
		sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE, sqlite3.SQLITE_REINDEX, sqlite3.SQLITE_ANALYZE:
		ev.write, ev.schema = true, true
	}
	return sqlite3.SQLITE_OK
}

// close closes the classifier.
func (r *router) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.classifier != nil {
		r.classifier.Close()
		r.classifier = nil
	}
}
