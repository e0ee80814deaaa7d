//go:build cgo

package route

import (
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Route is where a statement runs.
type Route uint8

const (
	// Reader is any reader: the string only reads, and leaves nothing behind.
	Reader Route = iota
	// Writer is the writer, or the session's own connection.
	Writer
)

// Classification is the router's judgement of one SQL string. Once made it is not
// changed: placements and the cache share it.
type Classification struct {
	Route Route
	// Known is set when SQLite prepared every statement of the string on the classifier.
	// An unknown string goes to the writer and is not cached.
	Known bool
	// Pins is set when the string leaves state on its connection that must not spread to
	// other sessions (temp objects, attached databases, a per-session pragma setting): the
	// session moves to a connection of its own first.
	Pins bool
	// Schema is set when the string may change the schema: once it ran, cached judgements
	// are dropped.
	Schema bool
	// DML is set when the string inserts, updates or deletes rows, which sets
	// last_insert_rowid() and changes().
	DML bool
	// TxControl is set when the string begins or ends a transaction or a savepoint.
	TxControl bool
	// Settings are the broadcast pragma settings the string makes.
	Settings []Setting
	// NumInput is the parameter count of the string's first statement, which is what a
	// prepared statement binds.
	NumInput int
	// Empty is set when the string holds no statement for SQLite, only white space and
	// comments before its end or a NUL byte.
	Empty bool
	// Settles is set for a string that is one INSERT, REPLACE, UPDATE or DELETE (behind WITH
	// or not): sent through Query outside a transaction, it runs to completion in a
	// transaction of its own before Query returns (see settleWrite).
	Settles bool
	// MayChange is set for an unknown string one of whose statements begins with INSERT,
	// REPLACE, UPDATE, DELETE or WITH: it may set last_insert_rowid() and changes().
	MayChange bool
	// ReadsOnly is set for a known string that SQLite judges read-only throughout and that
	// has no statement of the writer's keywords: on the writer too it changes nothing (a
	// read of last_insert_rowid(), say), so a session's snapshots stay valid after it.
	ReadsOnly bool
	// FileChange is set for a string that may change a setting SQLite keeps in the database
	// file's header and answers from what a connection last read of it (VACUUM, a setting
	// of page_size, auto_vacuum or encoding): once it ran, readers read the file again
	// before they answer (see readerPool.fileChanged).
	FileChange bool
	// BeginsTx is set for a string with a BEGIN or SAVEPOINT statement.
	BeginsTx bool
	// LockingMode is EXCLUSIVE or NORMAL for a string that sets the main database's locking
	// mode: the connector runs everything on the writer in exclusive mode (see conn.choose).
	LockingMode string
	// Destroys is set for a string that drops a table or an index: SQLite refuses that while
	// the connection has other statements under way. Drops is set for one with a DROP.
	Destroys, Drops bool
	// Returns is set for one INSERT, REPLACE, UPDATE or DELETE (behind WITH or not) with a
	// RETURNING clause, as far as a look at its words tells: mattn's Exec of it reports the
	// changes() of before it when it returns a row (see conn.execReturning).
	Returns bool
	// OpensTemp is set for a string that opens the temp database of the connection it runs
	// on (a statement on the temp schema, an integrity check of every database), after
	// which database_list lists it there; ListsDatabases for one that reads database_list.
	// A session's database_list answers as its own connection would (see conn.choose).
	OpensTemp, ListsDatabases bool
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

// JudgeWords classifies query by the first words of its statements alone, and returns them.
func JudgeWords(query string) (*Classification, []Statement) {
	statements := Split(query)
	cls := &Classification{Route: Reader, Known: true, ReadsOnly: true}
	if len(statements) == 0 {
		cls.Empty = true
		return cls, nil
	}
	if nul := strings.IndexByte(query, 0); nul >= 0 {
		// SQLite reads no further than a NUL byte.
		cls.Empty = len(Split(query[:nul])) == 0
	}
	for _, st := range statements {
		if writerKeywords[st.Keyword] {
			cls.Route, cls.ReadsOnly = Writer, false
		}
		cls.Schema = cls.Schema || schemaKeywords[st.Keyword]
		cls.DML = cls.DML || dmlKeywords[st.Keyword]
		cls.TxControl = cls.TxControl || txControlKeywords[st.Keyword]
		cls.Pins = cls.Pins || sessionKeywords[st.Keyword]
		cls.FileChange = cls.FileChange || st.Keyword == "VACUUM"
		cls.Drops = cls.Drops || st.Keyword == "DROP"
		cls.BeginsTx = cls.BeginsTx || st.Keyword == "BEGIN" || st.Keyword == "SAVEPOINT"
		cls.Returns = len(statements) == 1 && (dmlKeywords[st.Keyword] || st.Keyword == "WITH") &&
			strings.Contains(strings.ToUpper(st.SQL), "RETURNING")
		cls.MayChange = cls.MayChange || dmlKeywords[st.Keyword] || st.Keyword == "WITH"
		if st.Keyword == "PRAGMA" {
			if mode, ok := lockingModeSetting(st.SQL); ok {
				cls.LockingMode = mode
			}
		}
	}
	return cls, statements
}

// Unprepared is the judgement of query when no connection may prepare it (in
// exclusive locking mode only the writer can read the file): by its words, run on the
// writer.
func Unprepared(query string) *Classification {
	cls, statements := JudgeWords(query)
	if len(statements) == 0 {
		return cls
	}
	cls.Unknown(statements)
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

// Absorb adds to cls SQLite's judgement of st, prepared as ss, and what the authorizer
// reported while it was prepared; first is set for the string's first statement.
func (cls *Classification) Absorb(st Statement, ss *sqlite3.SQLiteStmt, ev *Events, first bool) {
	if first {
		cls.NumInput = ss.NumInput()
	}
	readOnly := ss.Readonly()
	if !readOnly || ev.write {
		cls.Route = Writer
	}
	cls.ReadsOnly = cls.ReadsOnly && readOnly
	if st.Keyword == "EXPLAIN" {
		// EXPLAIN runs nothing: what it explains leaves no state and no setting. It keeps
		// its route, which is conservative.
		return
	}
	cls.DML = cls.DML || (st.Keyword == "WITH" && !readOnly && !ev.schema)
	cls.Pins = cls.Pins || ev.pins
	cls.Schema = cls.Schema || ev.schema
	cls.TxControl = cls.TxControl || ev.txControl
	cls.FileChange = cls.FileChange || ev.fileChange
	cls.OpensTemp = cls.OpensTemp || ev.opensTemp
	cls.Destroys = cls.Destroys || ev.destroys
	cls.ListsDatabases = cls.ListsDatabases || ev.listsDatabases
	cls.Settings = append(cls.Settings, ev.settings...)
}

// Settle completes cls once each of its n statements was absorbed.
func (cls *Classification) Settle(n int) {
	cls.Settles = n == 1 && cls.DML && !cls.Schema && !cls.TxControl && !cls.Pins
}
