package sqliteserial

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrClosed is returned for work that reaches a connector after Close began.
	ErrClosed = errors.New("sqliteserial: database is closed")
	// ErrTxAborted is wrapped by the errors of a write transaction that ended before its
	// Commit: a statement's time limit ended it, SQLite rolled it back after a statement
	// failed (an interrupted write, OR ROLLBACK, RAISE(ROLLBACK), a full disk), or its
	// connection broke. The transaction was rolled back and released the writer; every
	// later statement of it, and its Commit, fail with an error that wraps ErrTxAborted,
	// and its Rollback returns nil.
	ErrTxAborted = errors.New("sqliteserial: transaction rolled back")

	// errWriterBroke is the error of a statement that needs the writer its session holds
	// after that connection broke underneath.
	errWriterBroke = errors.New("sqliteserial: the writer connection broke; the transaction is lost")
)

// WriteWaitError reports a unit of work that gave up waiting for the writer because it
// waited as long as _serial_write_wait allows. It wraps context.DeadlineExceeded. A unit
// whose own context ended first gets the context's own error instead, as mattn returns
// it.
type WriteWaitError struct {
	// Waited is how long the unit waited in the writer queue.
	Waited time.Duration
	// Limit is the configured write-wait limit.
	Limit time.Duration
	// Holder describes the unit of work that held the writer when the wait ended, such
	// as "a transaction"; it is empty when the writer was free.
	Holder string
	// HeldFor is how long Holder had held the writer when the wait ended.
	HeldFor time.Duration
	// Err is the cause.
	Err error
}

func (e *WriteWaitError) Error() string {
	msg := fmt.Sprintf("sqliteserial: gave up waiting for the writer after %v", e.Waited.Round(time.Millisecond))
	if e.Err == context.DeadlineExceeded && e.Waited >= e.Limit {
		msg += fmt.Sprintf(" (_serial_write_wait is %v)", e.Limit)
	}
	if e.Holder != "" {
		msg += fmt.Sprintf("; the writer is held by %s open for %v", e.Holder, e.HeldFor.Round(time.Millisecond))
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the cause, so errors.Is(err, context.DeadlineExceeded) holds for a wait
// ended by the limit or by a context deadline.
func (e *WriteWaitError) Unwrap() error { return e.Err }

// TimeLimitError reports a statement interrupted because it ran past _serial_query_timeout.
// It wraps context.DeadlineExceeded.
type TimeLimitError struct {
	// Limit is the time limit the statement ran past.
	Limit time.Duration
}

func (e *TimeLimitError) Error() string {
	return fmt.Sprintf("sqliteserial: statement interrupted at its time limit of %v (_serial_query_timeout): %v",
		e.Limit, context.DeadlineExceeded)
}

// Unwrap returns context.DeadlineExceeded.
func (e *TimeLimitError) Unwrap() error { return context.DeadlineExceeded }

// IsolationLevelError reports a BeginTx whose isolation level the driver cannot honour.
type IsolationLevelError struct {
	// Level is the level asked for.
	Level sql.IsolationLevel
	// ReadOnly tells whether the transaction asked to be read-only.
	ReadOnly bool
}

func (e *IsolationLevelError) Error() string {
	if e.ReadOnly {
		return fmt.Sprintf("sqliteserial: isolation level %v is not supported for a read-only transaction; "+
			"use LevelDefault, LevelSnapshot or LevelSerializable", e.Level)
	}
	return fmt.Sprintf("sqliteserial: isolation level %v is not supported for a write transaction; "+
		"use LevelDefault or LevelSerializable", e.Level)
}
