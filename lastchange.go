package sqliteserial

import (
	"database/sql/driver"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Sessions share the writer connection, but last_insert_rowid() and changes() belong to a
// connection: on one connection they report that connection's own latest insert and
// change count, not another session's. On the shared writer the driver overrides both SQL
// functions so that each session sees its own values, and it keeps track of whose values
// the connection holds:
//
//   - the writer connection's two values each have an owner, the session whose statement
//     set them; a session that owns a value sees SQLite's, read live, so that it is right
//     also inside a script or a trigger;
//   - a session that does not own a value sees the one it saved: when a value passes to
//     another session, its previous owner saves it first.
//
// A statement that inserts, updates or deletes (DML) takes over changes(): SQLite sets it
// at the end of every such statement. It takes over last_insert_rowid() only if it really
// changed it: an UPDATE, an INSERT OR IGNORE that ignored everything, or an insert into a
// WITHOUT ROWID table leave it alone. The values after a statement come from mattn's Exec
// result, which carries exactly these two numbers; after a Query, or a failure, they are
// read from the connection.
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

// changeOwners is the writer connection's two values and their owners. Only the holder of
// the writer touches it.
type changeOwners struct {
	value        lastChange // the connection's values, when known
	known        bool
	rowidOwner   *conn
	changesOwner *conn
}

// dmlClaim is what a DML statement changed in changeOwners before it ran, to settle it.
type dmlClaim struct {
	before                      lastChange
	previousRowid, previousChgs *conn
	// insertsRowid is set when the statement is an INSERT into a table with rowids: if it
	// inserted a row, it set last_insert_rowid(), also to the value it had.
	insertsRowid bool
}

// outcome is how a statement that claimed the connection's values ended.
type outcome uint8

const (
	// ranOK: the statement ran and succeeded.
	ranOK outcome = iota
	// ranFailed: the statement ran and failed; SQLite then sets changes() to 0.
	ranFailed
	// notRun: the statement never ran (it failed before its first step), so it changed
	// neither value.
	notRun
)

// registerChangeFunctions installs the overrides on a writer connection.
func (w *writer) registerChangeFunctions(c *sqlite3.SQLiteConn) error {
	if err := c.RegisterFunc("last_insert_rowid", func() (int64, error) {
		s := w.running
		if s == nil || s == w.owners.rowidOwner {
			v, err := connectionChange(c)
			return v.rowid, err
		}
		return s.saved.rowid, nil
	}, false); err != nil {
		return err
	}
	return c.RegisterFunc("changes", func() (int64, error) {
		s := w.running
		if s == nil || s == w.owners.changesOwner {
			v, err := connectionChange(c)
			return v.changes, err
		}
		return s.saved.changes, nil
	}, false)
}

// connectionChange reads SQLite's own values on c. A statement that changes nothing leaves
// both alone, and mattn's result of it carries both; SQLite allows it to run from inside a
// function of a statement on the same connection.
func connectionChange(c *sqlite3.SQLiteConn) (lastChange, error) {
	res, err := c.Exec("SELECT 1", nil)
	if err != nil {
		return lastChange{}, err
	}
	rowid, _ := res.LastInsertId()
	changes, _ := res.RowsAffected()
	return lastChange{rowid: rowid, changes: changes}, nil
}

// resultChange returns the values an Exec result carries.
func resultChange(res driver.Result) lastChange {
	rowid, _ := res.LastInsertId()
	changes, _ := res.RowsAffected()
	return lastChange{rowid: rowid, changes: changes}
}

// currentChange returns the connection's values, reading them if they are not known.
func (w *writer) currentChange() lastChange {
	if !w.owners.known {
		if v, err := connectionChange(w.conn.SQLiteConn); err == nil {
			w.owners.value, w.owners.known = v, true
		}
	}
	return w.owners.value
}

// claimChanges hands both values to s, which is about to run DML on the writer: their
// previous owners save them first. settleChanges must follow.
func (w *writer) claimChanges(s *conn) dmlClaim {
	o := &w.owners
	now := w.currentChange()
	claim := dmlClaim{before: now, previousRowid: o.rowidOwner, previousChgs: o.changesOwner}
	if o.rowidOwner != nil && o.rowidOwner != s {
		o.rowidOwner.saved.rowid = now.rowid
	}
	if o.changesOwner != nil && o.changesOwner != s {
		o.changesOwner.saved.changes = now.changes
	}
	o.rowidOwner, o.changesOwner = s, s
	return claim
}

// settleChanges records what s's DML statement left: after is the connection's values after
// it (the Exec result), or nil to read them; how is how the statement ended. A statement
// that ran leaves changes() to s. It leaves last_insert_rowid() to s if it changed it, or
// if it is an INSERT into a table with rowids that inserted rows (the new rowid may equal
// the old one, another session's). What s does not keep goes back to its previous owner.
func (w *writer) settleChanges(s *conn, claim dmlClaim, after *lastChange, how outcome) {
	o := &w.owners
	o.known = false
	if after != nil {
		o.value, o.known = *after, true
	}
	now := w.currentChange()
	if how == notRun {
		o.rowidOwner, o.changesOwner = claim.previousRowid, claim.previousChgs
		return
	}
	s.saved.changes = now.changes
	if now.rowid != claim.before.rowid || (how == ranOK && claim.insertsRowid && now.changes > 0) {
		s.saved.rowid = now.rowid
	} else {
		o.rowidOwner = claim.previousRowid
	}
}

// noteChange records the values an Exec result of a statement without DML carries.
func (w *writer) noteChange(after lastChange) {
	w.owners.value, w.owners.known = after, true
}

// forgetChanges records that the connection's values are no longer known or owned: after a
// caller of WithWriter used it, or after it was replaced.
func (w *writer) forgetChanges() {
	w.owners = changeOwners{}
}
