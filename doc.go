// Package sqliteserial is a database/sql driver, registered as "sqlite-serial", that makes
// SQLite safe and fast under concurrency without any change to the code that uses it. It
// wraps github.com/mattn/go-sqlite3.
//
//	import _ "github.com/sqlite-serial/sqlite-serial"
//
//	db, err := sql.Open("sqlite-serial", "app.db?_fk=1")
//
// # Topology
//
// Each *sql.DB owns one writer connection and a pool of reader connections to the same
// database. The writer opens first, with mattn's busy timeout, and switches a database file
// to WAL (a file in WAL mode already has nothing to switch: its writer opens with the first
// unit of work that needs it). Readers open as reads need them and cannot write: they are query-only, and opened
// with mode=ro when the DSN is a file: URI. The pool keeps _serial_readers of them and opens
// at most _serial_readers_max at once (by default an eighth of the process's limit on open
// files); reads at the cap wait in FIFO order, honouring their context. A read nested in
// the session's own open rows never waits, so that reads nested in loops over rows cannot
// wait for each other. With exclusive locking mode everything runs on the writer.
//
// # Routing
//
// Every statement is classified. It goes to a reader only when it certainly only reads and
// has no connection-local meaning; everything else goes to the writer. The judgement is
// SQLite's own: the statement is prepared on a query-only connection with an authorizer (a
// new SELECT on the reader that then runs it), and sqlite3_stmt_readonly decides, overruled where SQLite calls a statement
// read-only that must still run on the writer (transaction control, ATTACH and DETACH,
// pragma settings and reads of per-connection settings, REINDEX, temp objects,
// last_insert_rowid, changes and total_changes). A script goes to the writer when any of
// its statements does; a statement that cannot be prepared there goes to the writer too.
// Judgements are cached by SQL text and dropped when the schema changes. A write that still
// reaches a reader is refused there and run again on the writer, never surfacing as an
// error.
//
// # Serialization
//
// The writer runs one unit of work at a time: an autocommit statement or script (whose rows
// are read before Query returns), or a whole transaction. Units wait in a FIFO queue in Go,
// honouring their context (a call whose context ends returns the context's error), and give
// up after _serial_write_wait with a *WriteWaitError that wraps context.DeadlineExceeded. A
// unit whose caller gave up never runs. Within one process, concurrent use never yields
// SQLITE_BUSY or "database is locked". Autocommit writes that wait for the writer together
// are committed together (group commit, _serial_batch_max): one transaction, a savepoint
// each, one COMMIT, each caller answered as if its write had run alone.
//
// # Transactions
//
// BeginTx with the default or the serializable level takes the writer and runs BEGIN
// IMMEDIATE; every statement in it, reads included, runs on the writer until Commit,
// Rollback or the end of its context. A single INSERT, REPLACE, UPDATE or DELETE sent
// through Query outside a transaction (INSERT ... RETURNING, as ORMs send it) runs in a
// transaction of its own and is committed before Query returns: when Query fails, the
// write is not applied. BeginTx with ReadOnly runs on a reader as one stable
// snapshot, never touches the writer and refuses writes. Other isolation levels are refused
// with an *IsolationLevelError.
//
// # Sessions
//
// A *sql.Conn is one session and behaves as one SQLite connection. Once it begins a
// transaction in SQL (BEGIN or SAVEPOINT), it holds the writer until the transaction ends.
// Once it creates temp objects, attaches a database or sets a per-session pragma, it gets a
// physical connection of its own, which keeps that state for as long as database/sql keeps
// the connection; its writes still wait for the writer's turn. last_insert_rowid(),
// changes(), LastInsertId and RowsAffected are the session's own on every connection, as one
// dedicated connection would report them. A session always reads its own writes; reads
// inside its open rows share their snapshot until it writes.
//
// # Pragmas
//
// A setting of a per-connection pragma such as foreign_keys, made outside a transaction,
// applies to every physical connection, present and future. Settings of the database file
// and pragmas that act run on the writer. The README lists them all.
//
// # Hooks
//
// Config.Driver, or Driver.SQLite for sql.Register, opens every physical connection with a
// user's *sqlite3.SQLiteDriver, so its ConnectHook and Extensions apply everywhere.
// WithWriter gives exclusive use of the writer's *sqlite3.SQLiteConn.
//
// # Time limits
//
// _serial_query_timeout gives every statement, reads and writes alike, a time limit that
// covers reading its rows; a sooner context deadline wins. A statement past its limit is
// interrupted and fails with a *TimeLimitError, which wraps context.DeadlineExceeded; its
// connection stays usable, and a write transaction it belonged to is rolled back.
//
// # In-memory and read-only databases
//
// An in-memory DSN (":memory:", "file::memory:", mode=memory) gives each *sql.DB one
// in-memory database of its own, shared by its writer and readers. It has no WAL, so reads
// wait while a unit of work holds the writer, and their rows are read before Query returns,
// so that rows left open never keep a write waiting. With mode=ro or immutable=1 no writer is
// opened, and SQLite refuses writes at once.
//
// # Closing
//
// Close refuses new work, lets the calls running inside the driver finish (a second at
// most), never waits for rows or transactions the program left open (their connections are
// closed as they are released), checkpoints the WAL without waiting for other processes'
// readers, and returns nil as mattn does.
//
// # Errors
//
// Errors from SQLite reach the caller as mattn's sqlite3.Error, unchanged. The driver's own
// errors start with "sqliteserial:".
//
// The README lists every DSN key and the documented differences from plain
// mattn/go-sqlite3.
package sqliteserial
