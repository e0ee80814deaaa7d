//go:build cgo

package route

// pragmaKind is what a pragma does, for routing and for replaying its settings.
type pragmaKind uint8

const (
	// pragmaOther runs on the writer (or the session's own connection), and a setting of it
	// is not replayed: it acts (wal_checkpoint, optimize), sets the whole process
	// (soft_heap_limit) or the database file (journal_mode), or reports on one connection
	// (data_version, database_list). Pragmas SQLite adds later are treated alike.
	pragmaOther pragmaKind = iota
	// pragmaInspect reads the schema or the file; its argument names what to inspect, so a
	// reader may run it with or without one (PRAGMA table_info(t)).
	pragmaInspect
	// pragmaFileValue reads a value stored in the database file; a reader may run it
	// without an argument, and with one it sets the value, on the writer.
	pragmaFileValue
	// pragmaBroadcast is a per-connection setting that is safe on every connection: a
	// setting of it outside a transaction applies to the writer, every reader and every
	// session connection, present and future.
	pragmaBroadcast
	// pragmaSession is a per-connection setting that must not spread: a setting of it pins
	// the session to a connection of its own.
	pragmaSession
)

// pragmas classifies SQLite's pragmas (as PRAGMA pragma_list lists them for SQLite 3.54).
var pragmas = map[string]pragmaKind{
	"collation_list": pragmaInspect, "compile_options": pragmaInspect,
	"foreign_key_check": pragmaInspect, "foreign_key_list": pragmaInspect,
	"function_list": pragmaInspect, "index_info": pragmaInspect, "index_list": pragmaInspect,
	"index_xinfo": pragmaInspect, "integrity_check": pragmaInspect, "module_list": pragmaInspect,
	"pragma_list": pragmaInspect, "quick_check": pragmaInspect, "table_info": pragmaInspect,
	"table_list": pragmaInspect, "table_xinfo": pragmaInspect,

	"application_id": pragmaFileValue, "auto_vacuum": pragmaFileValue, "encoding": pragmaFileValue,
	"freelist_count": pragmaFileValue, "page_count": pragmaFileValue, "page_size": pragmaFileValue,
	"schema_version": pragmaFileValue, "user_version": pragmaFileValue,

	"analysis_limit": pragmaBroadcast, "automatic_index": pragmaBroadcast, "busy_timeout": pragmaBroadcast,
	"cache_size": pragmaBroadcast, "cache_spill": pragmaBroadcast, "case_sensitive_like": pragmaBroadcast,
	"cell_size_check": pragmaBroadcast, "checkpoint_fullfsync": pragmaBroadcast,
	"count_changes": pragmaBroadcast, "empty_result_callbacks": pragmaBroadcast,
	"foreign_keys": pragmaBroadcast, "full_column_names": pragmaBroadcast, "fullfsync": pragmaBroadcast,
	"ignore_check_constraints": pragmaBroadcast, "journal_size_limit": pragmaBroadcast,
	"legacy_alter_table": pragmaBroadcast, "mmap_size": pragmaBroadcast, "query_only": pragmaBroadcast,
	"read_uncommitted": pragmaBroadcast, "recursive_triggers": pragmaBroadcast,
	"reverse_unordered_selects": pragmaBroadcast, "secure_delete": pragmaBroadcast,
	"short_column_names": pragmaBroadcast, "synchronous": pragmaBroadcast, "temp_store": pragmaBroadcast,
	"threads": pragmaBroadcast, "trusted_schema": pragmaBroadcast, "wal_autocheckpoint": pragmaBroadcast,

	"defer_foreign_keys": pragmaSession, "locking_mode": pragmaSession, "max_page_count": pragmaSession,
	"writable_schema": pragmaSession,

	// database_list lists the temp database once the connection opened it; readers never
	// do, and a session that did has a connection of its own (see Events.Observe).
	"database_list": pragmaInspect,

	"data_version": pragmaOther, "hard_heap_limit": pragmaOther,
	"incremental_vacuum": pragmaOther, "journal_mode": pragmaOther, "optimize": pragmaOther,
	"shrink_memory": pragmaOther, "soft_heap_limit": pragmaOther, "temp_store_directory": pragmaOther,
	"wal_checkpoint": pragmaOther,
}

// Setting is one replayable pragma setting: the statement that made it.
type Setting struct {
	Name string
	SQL  string
}
