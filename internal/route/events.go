//go:build cgo

package route

import (
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Events is what the authorizer reported while one statement was prepared.
type Events struct {
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
	settings       []Setting
}

// Observe is the authorizer of the statement ev is about, while it is prepared. It never
// denies: it only records.
func (ev *Events) Observe(op int, arg1, arg2, database string) int {
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
func (ev *Events) observePragma(name, arg, schema string) {
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
		ev.settings = append(ev.settings, Setting{Name: name, SQL: ev.sql})
	case kind == pragmaSession || kind == pragmaBroadcast:
		// A setting that must not spread, or one for another schema of the session.
		ev.pins = true
	}
}
