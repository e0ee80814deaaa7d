//go:build cgo

package route

import (
	"errors"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Judge completes cls, the judgement of statements by their words (JudgeWords), by
// preparing each of them on c, the connection r is installed on, and combining SQLite's
// judgement (sqlite3_stmt_readonly) with what the authorizer reported. A statement that
// does not prepare makes the string unknown (see Unknown). It reports whether c failed
// otherwise than with SQLite's own error (or the recorder's bound): such a connection is
// broken.
//
// c must hold a copy of the schema as new as the database's where the judgement depends on
// it (EXPLAIN REINDEX of a table that gained an index): SQLite reloads its copy when a
// statement reads the database, not when one is prepared. A prepare that fails on an older
// copy (a table created since) makes SQLite read the schema again and retry on its own.
func (r *Recorder) Judge(c *sqlite3.SQLiteConn, cls *Classification, statements []Statement) (broken bool) {
	for i, st := range statements {
		s, ev, err := r.Prepare(c, st)
		if err != nil {
			var sqliteErr sqlite3.Error
			cls.Unknown(statements)
			return !errors.As(err, &sqliteErr) && !errors.Is(err, errLogBound)
		}
		cls.Absorb(st, s, ev, i == 0)
		s.Close()
	}
	cls.Settle(len(statements))
	return false
}

// JudgeOne completes cls, the judgement of the one statement st by its words, as Judge
// does, and returns the prepared statement when the judgement sends it to a reader: c is
// the reader that is to run it, which saves a second prepare. The caller closes it.
func (r *Recorder) JudgeOne(c *sqlite3.SQLiteConn, cls *Classification, st Statement) *sqlite3.SQLiteStmt {
	s, ev, err := r.Prepare(c, st)
	if err != nil {
		cls.Unknown([]Statement{st})
		return nil
	}
	cls.Absorb(st, s, ev, true)
	cls.Settle(1)
	if cls.Route != Reader {
		s.Close()
		return nil
	}
	return s
}

// Unknown makes cls the judgement of statements that SQLite did not prepare: they go to
// the writer, or to the session's own connection, which may know what the judging
// connection does not (temp tables, attachments), and they are not cached. One INSERT,
// REPLACE, UPDATE or DELETE still settles (see Classification.Settles).
func (cls *Classification) Unknown(statements []Statement) {
	cls.Route, cls.Known, cls.Settings, cls.ReadsOnly = Writer, false, nil, false
	cls.Settles = len(statements) == 1 && dmlKeywords[statements[0].Keyword]
}

// WriterKeyword reports whether a statement whose first word is keyword always goes to the
// writer, whatever SQLite says of it.
func WriterKeyword(keyword string) bool {
	return writerKeywords[keyword]
}
