//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql/driver"
	"sync"

	sqlite3 "github.com/mattn/go-sqlite3"
)

var (
	_ driver.Stmt             = (*stmt)(nil)
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

// stmt is a prepared statement of a session. Each execution is routed like any other
// statement; the statement is prepared once on each physical connection it runs on and
// kept there until it is closed, and, as with mattn/go-sqlite3, only the first statement
// of its text runs.
type stmt struct {
	c        *conn
	query    string
	numInput int

	mu   sync.Mutex
	used map[*physConn]bool // the connections it is prepared on

	// last is the connection it ran on last and lastHandle the statement there: a
	// session's reads usually get the same reader back.
	last       *physConn
	lastHandle *sqlite3.SQLiteStmt
}

// on returns s prepared on p, which the session holds.
func (s *stmt) on(p *physConn) (*sqlite3.SQLiteStmt, error) {
	if s.last == p && !p.closed.Load() {
		return s.lastHandle, nil
	}
	h, err := p.prepared(s)
	if err == nil {
		s.last, s.lastHandle = p, h
	}
	return h, err
}

// Close implements driver.Stmt: it finalizes the statement on every connection.
func (s *stmt) Close() error {
	s.mu.Lock()
	used := s.used
	s.used, s.last, s.lastHandle = nil, nil, nil
	s.mu.Unlock()
	for p := range used {
		p.dropPrepared(s)
	}
	return nil
}

// NumInput implements driver.Stmt: the parameter count of the text's first statement.
func (s *stmt) NumInput() int { return s.numInput }

// ExecContext implements driver.StmtExecContext.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.exec(ctx, call{query: s.query, args: args, stmt: s})
}

// QueryContext implements driver.StmtQueryContext.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.query(ctx, call{query: s.query, args: args, stmt: s})
}

// Exec implements driver.Stmt.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), namedValues(args))
}

// Query implements driver.Stmt.
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), namedValues(args))
}

func namedValues(args []driver.Value) []driver.NamedValue {
	named := make([]driver.NamedValue, len(args))
	for i, v := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named
}
