//go:build cgo

package sqliteserial

import (
	"context"
	"errors"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// noCancel is the cancel function of a statement without a time limit of its own.
func noCancel() {}

// statementContext returns the context one statement runs under: ctx, limited to
// _serial_query_timeout unless ctx ends sooner anyway. mattn/go-sqlite3 interrupts the
// statement when that context ends. The returned function ends the limit; for a query it is
// called when its rows close, so the limit covers reading the rows too.
func (cn *Connector) statementContext(ctx context.Context) (context.Context, context.CancelFunc) {
	limit := cn.cfg.QueryTimeout
	if limit <= 0 {
		return ctx, noCancel
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= limit {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, limit)
}

// statementError returns the error a statement's caller sees, for the statement query. When the statement's own time
// limit (sctx, derived from the caller's ctx) interrupted it, that is a *TimeLimitError,
// which wraps context.DeadlineExceeded. When the caller's context ended, it is the
// context's error, also where SQLite's "interrupted" came back instead. Any other error is
// returned unchanged.
func (cn *Connector) statementError(ctx, sctx context.Context, err error, query string) error {
	if err == nil {
		return nil
	}
	interrupted := isInterrupt(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	switch {
	case !interrupted:
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	case sctx != ctx && sctx.Err() != nil:
		cn.logTimeLimit(query)
		return &TimeLimitError{Limit: cn.cfg.QueryTimeout}
	}
	return err
}

// isInterrupt reports whether err is SQLite's SQLITE_INTERRUPT.
func isInterrupt(err error) bool {
	return err != nil && sqliteCode(err) == sqlite3.ErrInterrupt
}

// isInterruption reports whether err ended a statement from outside: its context, its
// time limit, or SQLite's SQLITE_INTERRUPT.
func isInterruption(err error) bool {
	return isTimeLimit(err) || isInterrupt(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// isTimeLimit reports whether err is a statement's time limit.
func isTimeLimit(err error) bool {
	if err == nil {
		return false
	}
	var e *TimeLimitError
	return errors.As(err, &e)
}

// sqliteCode returns the primary result code of the sqlite3.Error in err's chain, or 0 when
// there is none. It is kept apart from its callers so that err == nil costs no allocation.
func sqliteCode(err error) sqlite3.ErrNo {
	if err == nil {
		return 0
	}
	var e sqlite3.Error
	if !errors.As(err, &e) {
		return 0
	}
	return e.Code
}
