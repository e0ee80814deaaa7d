//go:build cgo

package sqliteserial

// The driver reads and sets a connection's last_insert_rowid(), changes() and
// total_changes() through SQLite's C API. mattn/go-sqlite3 compiles SQLite into the same
// program and exposes no such calls, so the prototypes are declared here and resolved
// against its copy (or the system library with its libsqlite3 build tag) at link time.

/*
#include <string.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
extern int sqlite3_reset(sqlite3_stmt*);
extern long long sqlite3_last_insert_rowid(sqlite3*);
extern void sqlite3_set_last_insert_rowid(sqlite3*, long long);
extern long long sqlite3_changes64(sqlite3*);
extern long long sqlite3_total_changes64(sqlite3*);
extern int sqlite3_db_readonly(sqlite3*, const char*);
extern int sqlite3_file_control(sqlite3*, const char*, int, void*);
extern void sqlite3_free(void*);
extern int sqlite3_db_status(sqlite3*, int, int*, int*, int);

#define SERIAL_DBSTATUS_DEFERRED_FKS 10
#define SERIAL_DBCONFIG_NO_CKPT_ON_CLOSE 1006

extern int sqlite3_db_config(sqlite3*, int, ...);

// serial_no_ckpt_on_close keeps SQLite from checkpointing the WAL (and deleting it) when db
// is the last connection on the file to close.
static int serial_no_ckpt_on_close(sqlite3 *db) {
	return sqlite3_db_config(db, SERIAL_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int*)0);
}

// serial_deferred_fks reports whether db's transaction has foreign key violations whose
// check is deferred to its COMMIT.
static int serial_deferred_fks(sqlite3 *db) {
	int cur = 0, hi = 0;
	if (sqlite3_db_status(db, SERIAL_DBSTATUS_DEFERRED_FKS, &cur, &hi, 0) != 0) {
		return 1;
	}
	return cur > 0;
}

#define SERIAL_FCNTL_VFSNAME 12

static int serial_main_readonly(sqlite3 *db) {
	return sqlite3_db_readonly(db, "main") == 1;
}

// serial_main_in_memory reports whether the main database of db lives in memory through
// the memdb VFS, as after sqlite3_deserialize: its VFS name is "memdb(...)".
static int serial_main_in_memory(sqlite3 *db) {
	char *name = 0;
	int in_memory;
	if (sqlite3_file_control(db, "main", SERIAL_FCNTL_VFSNAME, &name) != 0 || name == 0) {
		return 0;
	}
	in_memory = strncmp(name, "memdb", 5) == 0;
	sqlite3_free(name);
	return in_memory;
}

typedef struct { long long rowid, changes, total; } serial_values;

static serial_values serial_read(sqlite3 *db) {
	serial_values v;
	v.rowid = sqlite3_last_insert_rowid(db);
	v.changes = sqlite3_changes64(db);
	v.total = sqlite3_total_changes64(db);
	return v;
}

static serial_values serial_enter(sqlite3 *db, long long rowid) {
	if (sqlite3_last_insert_rowid(db) != rowid) {
		sqlite3_set_last_insert_rowid(db, rowid);
	}
	return serial_read(db);
}
*/
import "C"

import (
	"fmt"
	"reflect"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// dbHandle is a connection's sqlite3 handle, for the calls mattn does not expose.
type dbHandle *C.sqlite3

// handleOf returns c's sqlite3 handle. mattn keeps it in the unexported field db, which
// reflection reads without exporting it; the handle lives as long as the connection.
func handleOf(c *sqlite3.SQLiteConn) dbHandle {
	return dbHandle(reflect.ValueOf(c).Elem().FieldByName("db").UnsafePointer())
}

// noCheckpointOnClose makes h leave the WAL as it is when it closes last on the file.
func noCheckpointOnClose(h dbHandle) error {
	if rc := C.serial_no_ckpt_on_close(h); rc != 0 {
		return fmt.Errorf("sqliteserial: SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE: error %d", int(rc))
	}
	return nil
}

// resetStmt resets h, ending the read a step to a row left it in. mattn's Exec of a
// prepared statement steps it once and leaves it there when the step gave a row (a
// SELECT), until the statement runs again: meanwhile its connection keeps the snapshot of
// that read, and keeps the WAL from being checkpointed past it.
func resetStmt(h *sqlite3.SQLiteStmt) {
	if p := reflect.ValueOf(h).Elem().Field(stmtHandleField).UnsafePointer(); p != nil {
		C.sqlite3_reset((*C.sqlite3_stmt)(p))
	}
}

// stmtHandleField is the index of mattn's unexported field s, a statement's sqlite3_stmt
// handle, looked up once.
var stmtHandleField = func() int {
	f, ok := reflect.TypeFor[sqlite3.SQLiteStmt]().FieldByName("s")
	if !ok {
		panic("sqliteserial: mattn's SQLiteStmt has no field s")
	}
	return f.Index[0]
}()

// connValues are a connection's last_insert_rowid(), changes() and total_changes().
type connValues struct {
	rowid, changes, total int64
}

func fromC(v C.serial_values) connValues {
	return connValues{rowid: int64(v.rowid), changes: int64(v.changes), total: int64(v.total)}
}

// readValues returns the connection's values.
func readValues(h dbHandle) connValues {
	return fromC(C.serial_read(h))
}

// mainReadOnly reports whether SQLite opened the main database of h read-only, as it does
// with a file the process may not write (PRAGMA query_only does not count).
func mainReadOnly(h dbHandle) bool {
	return C.serial_main_readonly(h) != 0
}

// mainInMemory reports whether the main database of h lives in memory through SQLite's
// memdb VFS, as after a Deserialize.
func mainInMemory(h dbHandle) bool {
	return C.serial_main_in_memory(h) != 0
}

// enterValues sets the connection's last_insert_rowid() to rowid and returns its values.
func enterValues(h dbHandle, rowid int64) connValues {
	return fromC(C.serial_enter(h, C.longlong(rowid)))
}

// deferredViolations reports whether the transaction open on h has foreign key violations
// that its COMMIT would refuse (deferred foreign keys, or PRAGMA defer_foreign_keys).
func deferredViolations(h dbHandle) bool {
	return C.serial_deferred_fks(h) != 0
}
