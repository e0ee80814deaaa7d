//go:build cgo

package sqliteserial

import "database/sql/driver"

// Sessions share the writer connection, but last_insert_rowid() and changes() belong to a
// connection: on one connection they report that connection's own latest insert and
// change count, not another session's. Each session keeps its own two values (conn.last),
// and the ledger of the connection a statement of the session runs on (the shared writer,
// or the session's own connection, which starts with values of its own) makes it report
// them while the statement runs:
//
//   - last_insert_rowid(): before each statement of a session on the shared writer, the
//     ledger sets the connection's value to the session's own
//     (sqlite3_set_last_insert_rowid). Whatever the statement does (an upsert on either
//     branch, an INSERT OR IGNORE that ignored, a trigger, a script, a failure part way),
//     SQLite's value after it is exactly what one dedicated connection would hold, and the
//     session takes it.
//   - changes(): SQLite has no call that sets it. When the connection's value at the start
//     of the statement is the session's own, SQLite's value is right throughout. Otherwise
//     the ledger's changes() override reports the session's value until the connection's
//     value moves (a change count or the total changes differ from the start), and the
//     session takes SQLite's value after a statement that moved it or that ran an INSERT,
//     UPDATE or DELETE to its end.
//
// total_changes() keeps SQLite's meaning on the writer: the changes of every session.

// lastChange is what last_insert_rowid() and changes() report. It is also the
// driver.Result of a statement that ran on a shared connection.
type lastChange struct {
	rowid, changes int64
}

// LastInsertId implements driver.Result.
func (v lastChange) LastInsertId() (int64, error) { return v.rowid, nil }

// RowsAffected implements driver.Result.
func (v lastChange) RowsAffected() (int64, error) { return v.changes, nil }

// changeLedger makes one physical connection report the running session's
// last_insert_rowid() and changes().
//
// Owner: the connection's user: the holder of the writer's turn for the writer, the session
// for its own connection. Only that user calls its methods (the changes() override runs
// inside the user's statement), and a session's values (conn.last) are written only through
// enter and leave, by that session's own calls.
type changeLedger struct {
	running *lastChange // the values of the session whose statement runs; nil between
	depth   int         // statements of that session under way: its open rows, a nested statement
	start   connValues  // the connection's values when the latest of them began
	trusted bool        // start.changes was the session's own: SQLite's changes() is right
	// left and after are the session whose statement left last, with nothing of it under
	// way, and the connection's values then. Nothing else runs on the connection between
	// its user's statements, so while the same session goes on (a transaction) they are
	// still the connection's values, and enter needs no call into SQLite. Another
	// session's statement clears them, and a new holder of the writer's turn starts with
	// an empty ledger.
	left  *lastChange
	after connValues
}

// enter starts a statement of the session whose values are own on the connection h.
func (l *changeLedger) enter(h dbHandle, own *lastChange) {
	if l.running != own {
		l.running, l.depth = own, 0
	}
	l.depth++
	if l.left == own && l.after.rowid == own.rowid {
		l.start = l.after
	} else {
		l.start = enterValues(h, own.rowid)
	}
	l.left = nil
	l.trusted = l.start.changes == own.changes
}

// leave ends the statement enter began; ranDML reports that it ran an INSERT, UPDATE or
// DELETE to its end, successfully or not, so that SQLite set changes().
func (l *changeLedger) leave(h dbHandle, ranDML bool) {
	own := l.running
	if own == nil {
		return
	}
	// Only what moved on this connection during the statement is the session's news: its
	// values may have moved since on another connection (its own, opened while these rows
	// were open on the writer).
	now := readValues(h)
	if now.rowid != l.start.rowid {
		own.rowid = now.rowid
	}
	if ranDML || now.changes != l.start.changes || now.total != l.start.total {
		own.changes = now.changes
	}
	l.depth--
	if l.depth <= 0 {
		l.running, l.depth = nil, 0
		l.left, l.after = own, now
		return
	}
	// An outer statement of the session (its open rows) goes on from here.
	l.start, l.trusted = now, now.changes == own.changes
}

// changes is the value of changes() on the connection h: the running session's.
func (l *changeLedger) changes(h dbHandle) int64 {
	now := readValues(h)
	if l.running == nil || l.trusted || now.changes != l.start.changes || now.total != l.start.total {
		return now.changes
	}
	return l.running.changes
}

// registerChangeFunctions installs the changes() override on p, whose ledger it consults.
// Every physical connection has it: a session's statements report its values on the writer,
// on its own connection and on the reader of its read-only transaction.
func registerChangeFunctions(p *physConn) error {
	return p.RegisterFunc("changes", func() int64 { return p.ledger.changes(p.h) }, false)
}

// resultChange returns the values an Exec result carries.
func resultChange(res driver.Result) lastChange {
	rowid, _ := res.LastInsertId()
	changes, _ := res.RowsAffected()
	return lastChange{rowid: rowid, changes: changes}
}
