//go:build cgo

package route

/*
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct sqlite3 sqlite3;
extern int sqlite3_set_authorizer(sqlite3*, int (*)(void*, int, const char*, const char*, const char*, const char*), void*);

#define SERIAL_AUTH_READ 20

// serial_auth_log is what the authorizer reported while one statement was prepared: its
// records, each the action code in one byte and then its first argument, its second and
// its database name, each ended by a NUL byte (an absent one is empty).
typedef struct {
	int on;       // the authorizer records only while on is set
	int overflow; // a record did not fit in max bytes, or memory ran out
	size_t n;     // bytes of buf in use
	size_t cap;   // bytes of buf
	size_t max;   // the most bytes buf may grow to
	char *buf;
} serial_auth_log;

// serial_auth_reserve makes room in log for need more bytes, doubling buf as often as it
// takes, within max: a statement is prepared once, however much it reports.
static int serial_auth_reserve(serial_auth_log *log, size_t need) {
	size_t cap = log->cap;
	char *buf;
	if (need <= log->cap - log->n) {
		return 1;
	}
	if (need > log->max - log->n) {
		return 0;
	}
	while (cap - log->n < need) {
		cap = cap > log->max / 2 ? log->max : 2 * cap;
	}
	buf = realloc(log->buf, cap);
	if (buf == 0) {
		return 0;
	}
	log->buf = buf;
	log->cap = cap;
	return 1;
}

static void serial_auth_put(serial_auth_log *log, const char *s, size_t len) {
	if (len) {
		memcpy(log->buf + log->n, s, len);
	}
	log->buf[log->n + len] = 0;
	log->n += len + 1;
}

// serial_auth is the authorizer: it never denies, it records. A read of a table of the
// main or an attached database tells the judgement nothing (see Events.Observe: only
// reads of temp tables and of pragma tables do) and is not recorded, which keeps a log of
// a wide SELECT short.
static int serial_auth(void *p, int op, const char *a1, const char *a2, const char *db, const char *trigger) {
	serial_auth_log *log = p;
	size_t l1, l2, l3;
	(void)trigger;
	if (!log->on || log->overflow) {
		return 0;
	}
	if (op == SERIAL_AUTH_READ && !(db && strcmp(db, "temp") == 0) &&
			!(a1 && strncasecmp(a1, "pragma_", 7) == 0)) {
		return 0;
	}
	l1 = a1 ? strlen(a1) : 0;
	l2 = a2 ? strlen(a2) : 0;
	l3 = db ? strlen(db) : 0;
	if (!serial_auth_reserve(log, 1 + l1 + 1 + l2 + 1 + l3 + 1)) {
		log->overflow = 1;
		return 0;
	}
	log->buf[log->n++] = (char)op;
	serial_auth_put(log, a1, l1);
	serial_auth_put(log, a2, l2);
	serial_auth_put(log, db, l3);
	return 0;
}

static serial_auth_log *serial_auth_new(size_t cap, size_t max) {
	serial_auth_log *log = calloc(1, sizeof(serial_auth_log));
	if (log == 0) {
		return 0;
	}
	log->buf = malloc(cap);
	if (log->buf == 0) {
		free(log);
		return 0;
	}
	log->cap = cap;
	log->max = max;
	return log;
}

// serial_auth_shrink gives back what a large report made buf grow to, once it was read.
static void serial_auth_shrink(serial_auth_log *log, size_t cap) {
	char *buf = realloc(log->buf, cap);
	if (buf != 0) {
		log->buf = buf;
		log->cap = cap;
	}
}

static int serial_auth_install(sqlite3 *db, serial_auth_log *log) {
	return sqlite3_set_authorizer(db, serial_auth, log);
}

// serial_auth_remove makes db call no authorizer from now on.
static void serial_auth_remove(sqlite3 *db) {
	sqlite3_set_authorizer(db, 0, 0);
}

// serial_auth_abandon releases log's records but keeps log itself, which an authorizer still
// installed may read: it records nothing from now on.
static void serial_auth_abandon(serial_auth_log *log) {
	log->on = 0;
	log->cap = 0;
	free(log->buf);
	log->buf = 0;
}

static void serial_auth_free(serial_auth_log *log) {
	free(log->buf);
	free(log);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// recorderLogSize is the bytes a recorder's log starts with; the authorizer doubles it as
// often as a statement's records need, within one prepare, up to recorderLogMax: SQLite's
// own memory for a statement that reports that much (a SELECT of views of views) is larger.
// A log that grew beyond recorderLogKeep is given back to recorderLogSize once read.
const (
	recorderLogSize = 4 << 10
	recorderLogKeep = 1 << 20
	recorderLogMax  = 1 << 30
)

// errLogBound is Prepare's error for a statement whose records outgrew recorderLogMax, or
// the memory left: the statement is unknown, and the connection is not broken.
var errLogBound = errors.New("sqliteserial: the authorizer's log of a statement outgrew its bound")

// A Recorder judges statements by preparing them on one connection, whose authorizer it
// is: SQLite's authorizer reports, while a statement is prepared, every table, function
// and pragma it touches. The authorizer is C code that writes what it is told into C
// memory, which Prepare reads once the prepare returns: a judgement makes no call from
// SQLite back into Go, and installing the recorder once, when the connection is new,
// leaves the connection's other statements as they are (a new authorizer expires every
// prepared statement of its connection). While no judgement runs, the authorizer returns
// at once.
//
// A Recorder belongs to one connection and to its user: Prepare is not safe for
// concurrent use. Free releases it after the connection closed.
type Recorder struct {
	log *C.serial_auth_log
}

// Install makes a new Recorder the authorizer of db, a connection's sqlite3 handle. It
// replaces an authorizer installed before, mattn's RegisterAuthorizer included.
func Install(db unsafe.Pointer) (*Recorder, error) {
	log := C.serial_auth_new(recorderLogSize, recorderLogMax)
	if log == nil {
		return nil, errors.New("sqliteserial: out of memory for the authorizer's log")
	}
	if rc := C.serial_auth_install((*C.sqlite3)(db), log); rc != 0 {
		C.serial_auth_free(log)
		return nil, fmt.Errorf("sqliteserial: installing the authorizer: SQLite error %d", int(rc))
	}
	return &Recorder{log: log}, nil
}

// Free removes the recorder from db, the connection it was installed on, and releases what
// it holds. db must still be open: a connection closed while some of its statements are
// not finalized lives on until they are (sqlite3_close_v2), and SQLite may call its
// authorizer when it prepares one of them again.
func (r *Recorder) Free(db unsafe.Pointer) {
	if r.log != nil {
		C.serial_auth_remove((*C.sqlite3)(db))
		C.serial_auth_free(r.log)
		r.log = nil
	}
}

// Abandon releases what the recorder holds, for a connection that someone else closed, and
// which may live on with the recorder installed (see Free): all but the few bytes the
// authorizer reads, which stay allocated, and make it record nothing.
func (r *Recorder) Abandon() {
	if r.log != nil {
		C.serial_auth_abandon(r.log)
		r.log = nil
	}
}

// Prepare prepares st on c, the connection the recorder is installed on, and returns the
// statement with what the authorizer reported while it was prepared.
func (r *Recorder) Prepare(c *sqlite3.SQLiteConn, st Statement) (*sqlite3.SQLiteStmt, *Events, error) {
	r.log.on, r.log.overflow, r.log.n = 1, 0, 0
	s, err := c.PrepareContext(context.Background(), st.SQL)
	r.log.on = 0
	defer func() {
		if r.log.cap > recorderLogKeep {
			C.serial_auth_shrink(r.log, recorderLogSize)
		}
	}()
	if r.log.overflow != 0 {
		if s != nil {
			s.Close()
		}
		return nil, nil, errLogBound
	}
	if err != nil {
		return nil, nil, err
	}
	ev := &Events{sql: st.SQL}
	ev.replay(C.GoBytes(unsafe.Pointer(r.log.buf), C.int(r.log.n)))
	return s.(*sqlite3.SQLiteStmt), ev, nil
}

// replay hands each record of log, as the authorizer wrote it, to Observe.
func (ev *Events) replay(log []byte) {
	next := func() string {
		for i, b := range log {
			if b == 0 {
				s := string(log[:i])
				log = log[i+1:]
				return s
			}
		}
		s := string(log)
		log = nil
		return s
	}
	for len(log) > 0 {
		op := int(log[0])
		log = log[1:]
		arg1, arg2, database := next(), next(), next()
		ev.Observe(op, arg1, arg2, database)
	}
}
