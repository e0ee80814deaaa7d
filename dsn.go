package sqliteserial

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// queryPart is one key=value of a DSN's query, exactly as written.
type queryPart string

// key returns the part's unescaped key, or the raw key when it does not unescape.
func (p queryPart) key() string {
	raw, _, _ := strings.Cut(string(p), "=")
	if k, err := url.QueryUnescape(raw); err == nil {
		return k
	}
	return raw
}

// rawValue returns the part's value as written.
func (p queryPart) rawValue() string {
	_, v, _ := strings.Cut(string(p), "=")
	return v
}

// value returns the part's unescaped value, or the raw value when it does not unescape.
func (p queryPart) value() string {
	if v, err := url.QueryUnescape(p.rawValue()); err == nil {
		return v
	}
	return p.rawValue()
}

// dsnQuery is a DSN split as mattn/go-sqlite3 splits it: at the first '?'. Editing it keeps
// every untouched part byte for byte.
type dsnQuery struct {
	base     string
	hasQuery bool
	parts    []queryPart
}

func splitQuery(dsn string) dsnQuery {
	base, query, ok := strings.Cut(dsn, "?")
	q := dsnQuery{base: base, hasQuery: ok}
	if ok {
		for _, p := range strings.Split(query, "&") {
			q.parts = append(q.parts, queryPart(p))
		}
	}
	return q
}

// String joins the query back into a DSN. A query left with no parts loses its '?' unless
// the DSN had one with nothing after it.
func (q dsnQuery) String() string {
	if !q.hasQuery || len(q.parts) == 0 {
		return q.base
	}
	ss := make([]string, len(q.parts))
	for i, p := range q.parts {
		ss[i] = string(p)
	}
	return q.base + "?" + strings.Join(ss, "&")
}

// get returns the value of the last part with key, as SQLite reads URI parameters, or "".
func (q dsnQuery) get(key string) string {
	v := ""
	for _, p := range q.parts {
		if p.key() == key {
			v = p.value()
		}
	}
	return v
}

// has tells whether any part has key.
func (q dsnQuery) has(key string) bool {
	for _, p := range q.parts {
		if p.key() == key {
			return true
		}
	}
	return false
}

// without returns q with every part whose key is one of keys removed.
func (q dsnQuery) without(keys ...string) dsnQuery {
	out := dsnQuery{base: q.base, hasQuery: q.hasQuery}
	for _, p := range q.parts {
		drop := false
		for _, k := range keys {
			if p.key() == k {
				drop = true
				break
			}
		}
		if !drop {
			out.parts = append(out.parts, p)
		}
	}
	if len(out.parts) == 0 && len(q.parts) > 0 {
		out.hasQuery = false
	}
	return out
}

// with returns q with key set to value, replacing any earlier setting of it.
func (q dsnQuery) with(key, value string) dsnQuery {
	out := q.without(key)
	out.hasQuery = true
	out.parts = append(out.parts, queryPart(url.QueryEscape(key)+"="+url.QueryEscape(value)))
	return out
}

// uriBool reads a SQLite URI boolean as sqlite3_uri_boolean does.
func uriBool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "yes", "true", "on":
		return true
	}
	return false
}

// memdbNames numbers the private in-memory databases of this process.
var memdbNames atomic.Uint64

// memdbPrefix makes the names of private in-memory databases unlikely to meet a name a user
// chose: it is random per process.
var memdbPrefix = func() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "/sqlite-serial-" + hex.EncodeToString(b) + "-"
}()

// topology is what a connector reads from its mattn DSN: the kind of database and the DSN
// of each physical role.
type topology struct {
	// writerDSN opens the writer; empty for a read-only database.
	writerDSN string
	// readerDSN opens every reader and the classifier.
	readerDSN string
	// sessionDSN opens the connection of a session that keeps state of its own.
	sessionDSN string
	// memory is set for an in-memory database, which cannot use WAL.
	memory bool
	// readOnly is set for mode=ro or immutable=1: no writer is opened.
	readOnly bool
	// journalChosen is set when the DSN names a journal mode; the driver then leaves it alone
	// instead of switching the database to WAL.
	journalChosen bool
	// busyTimeout is the DSN's busy timeout, mattn's default when it names none.
	busyTimeout time.Duration
	// begin is the statement that starts a write transaction.
	begin string
	// exclusive is set for _locking_mode=EXCLUSIVE (or _locking): only one connection can
	// use the file, so everything runs on the writer.
	exclusive bool
	// sessionBegin is mattn's own statement for BeginTx (by _txlock): the driver runs it on
	// a session's own connection with reads open on it, so that the transaction keeps their
	// snapshot, as on one mattn connection.
	sessionBegin string
}

// planTopology reads dsn, a mattn DSN without _serial_ keys.
//
// Shared cache is never used (the driver's own serialization makes it unnecessary, and it
// causes "table is locked"), so cache= is dropped. An in-memory DSN (:memory:, an empty
// path, file::memory:, mode=memory or vfs=memdb) becomes a memdb database with a name
// private to this connector, which its writer and readers share. Readers of a file: URI get
// mode=ro; readers never get the journal or auto-vacuum keys, which the writer applies.
// defaultStmtCache is the size of mattn's prepared-statement cache (_stmt_cache_size) on
// every physical connection when the DSN does not give one: a text a connection runs again
// is not prepared again.
const defaultStmtCache = 16

func planTopology(dsn string) topology {
	q := splitQuery(dsn).without("cache")
	uri := strings.HasPrefix(q.base, "file:")
	t := topology{busyTimeout: 5 * time.Second, begin: "BEGIN IMMEDIATE", sessionBegin: "BEGIN"}
	for _, k := range []string{"_busy_timeout", "_timeout"} {
		if ms, err := strconv.ParseInt(q.get(k), 10, 64); err == nil && q.has(k) {
			t.busyTimeout = time.Duration(ms) * time.Millisecond
		}
	}
	switch strings.ToLower(q.get("_txlock")) {
	case "exclusive":
		t.begin, t.sessionBegin = "BEGIN EXCLUSIVE", "BEGIN EXCLUSIVE"
	case "immediate":
		t.sessionBegin = "BEGIN IMMEDIATE"
	}
	t.journalChosen = q.has("_journal_mode") || q.has("_journal")
	t.exclusive = strings.EqualFold(q.get("_locking_mode"), "exclusive") || strings.EqualFold(q.get("_locking"), "exclusive")
	mode := strings.ToLower(q.get("mode"))
	t.memory = q.base == ":memory:" || q.base == "" ||
		(uri && (strings.HasPrefix(q.base, "file::memory:") || mode == "memory" || strings.EqualFold(q.get("vfs"), "memdb")))
	t.readOnly = !t.memory && uri && (mode == "ro" || uriBool(q.get("immutable")))
	if !q.has("_stmt_cache_size") {
		q = q.with("_stmt_cache_size", strconv.Itoa(defaultStmtCache))
	}
	switch {
	case t.memory:
		q = q.without("mode", "vfs")
		q.base = "file:" + memdbPrefix + strconv.FormatUint(memdbNames.Add(1), 10)
		q = q.with("vfs", "memdb")
		t.writerDSN = q.String()
		t.readerDSN = q.without("_journal_mode", "_journal", "_auto_vacuum", "_vacuum").String()
		t.sessionDSN = t.readerDSN
	case t.readOnly:
		t.readerDSN = q.String()
		t.sessionDSN = t.readerDSN
	default:
		t.writerDSN = q.String()
		r := q.without("_journal_mode", "_journal", "_auto_vacuum", "_vacuum")
		t.sessionDSN = r.String()
		if uri {
			r = r.with("mode", "ro")
		}
		t.readerDSN = r.String()
	}
	return t
}
