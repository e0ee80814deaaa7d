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
	int overflow; // a record did not fit in what was left of buf
	size_t n;     // bytes of buf in use
	size_t cap;   // bytes of buf
	char *buf;
} serial_auth_log;

static int serial_auth_put(serial_auth_log *log, const char *s) {
	size_t len = s ? strlen(s) : 0;
	if (log->n + len + 1 > log->cap) {
		log->overflow = 1;
		return 0;
	}
	if (len) {
		memcpy(log->buf + log->n, s, len);
	}
	log->buf[log->n + len] = 0;
	log->n += len + 1;
	return 1;
}

// serial_auth is the authorizer: it never denies, it records. A read of a table of the
// main or an attached database tells the judgement nothing (see Events.Observe: only
// reads of temp tables and of pragma tables do) and is not recorded, which keeps a log of
// a wide SELECT short.
static int serial_auth(void *p, int op, const char *a1, const char *a2, const char *db, const char *trigger) {
	serial_auth_log *log = p;
	size_t start;
	(void)trigger;
	if (!log->on || log->overflow) {
		return 0;
	}
	if (op == SERIAL_AUTH_READ && !(db && strcmp(db, "temp") == 0) &&
			!(a1 && strncasecmp(a1, "pragma_", 7) == 0)) {
		return 0;
	}
	start = log->n;
	if (log->n + 1 > log->cap) {
		log->overflow = 1;
		return 0;
	}
	log->buf[log->n++] = (char)op;
	if (!serial_auth_put(log, a1) || !serial_auth_put(log, a2) || !serial_auth_put(log, db)) {
		log->n = start;
	}
	return 0;
}

static serial_auth_log *serial_auth_new(size_t cap) {
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
	return log;
}

static int serial_auth_grow(serial_auth_log *log) {
	char *buf = realloc(log->buf, 2 * log->cap);
	if (buf == 0) {
		return 0;
	}
	log->buf = buf;
	log->cap *= 2;
	return 1;
}

static int serial_auth_install(sqlite3 *db, serial_auth_log *log) {
	return sqlite3_set_authorizer(db, serial_auth, log);
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

// recorderLogSize is the bytes a recorder's log starts with; a statement whose records do
// not fit is prepared again with twice as many, up to recorderLogMax.
const (
	recorderLogSize = 4 << 10
	recorderLogMax  = 16 << 20
)

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
	log := C.serial_auth_new(recorderLogSize)
	if log == nil {
		return nil, errors.New("sqliteserial: out of memory for the authorizer's log")
	}
	if rc := C.serial_auth_install((*C.sqlite3)(db), log); rc != 0 {
		C.serial_auth_free(log)
		return nil, fmt.Errorf("sqliteserial: installing the authorizer: SQLite error %d", int(rc))
	}
	return &Recorder{log: log}, nil
}

// Free releases what the recorder holds. The connection it was installed on must be
// closed first.
func (r *Recorder) Free() {
	if r.log != nil {
		C.serial_auth_free(r.log)
		r.log = nil
	}
}

// Prepare prepares st on c, the connection the recorder is installed on, and returns the
// statement with what the authorizer reported while it was prepared.
func (r *Recorder) Prepare(c *sqlite3.SQLiteConn, st Statement) (*sqlite3.SQLiteStmt, *Events, error) {
	for {
		r.log.on, r.log.overflow, r.log.n = 1, 0, 0
		s, err := c.PrepareContext(context.Background(), st.SQL)
		r.log.on = 0
		if r.log.overflow != 0 {
			if s != nil {
				s.Close()
			}
			if r.log.cap >= recorderLogMax || C.serial_auth_grow(r.log) == 0 {
				return nil, nil, errors.New("sqliteserial: the authorizer's log of a statement outgrew its bound")
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		ev := &Events{sql: st.SQL}
		ev.replay(C.GoBytes(unsafe.Pointer(r.log.buf), C.int(r.log.n)))
		return s.(*sqlite3.SQLiteStmt), ev, nil
	}
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
