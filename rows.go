//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql/driver"
	"io"

	sqlite3 "github.com/mattn/go-sqlite3"
)

var (
	_ driver.Rows                           = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
)

// rows are mattn's rows of one statement, which give back the connection the statement ran
// on when they close. Embedding *sqlite3.SQLiteRows keeps every method mattn's rows have
// (the ColumnType* methods among them), so database/sql sees the same capabilities.
type rows struct {
	*sqlite3.SQLiteRows
	c  *conn
	pl placement

	ctx    context.Context // the caller's
	sctx   context.Context // the statement's, with its time limit
	cancel context.CancelFunc
	query  string // the statement's text, for the log of its time limit

	err    error // the first error Next returned
	closed bool
}

// Next implements driver.Rows.
func (r *rows) Next(dest []driver.Value) error {
	err := r.SQLiteRows.Next(dest)
	if err != nil && err != io.EOF {
		err = r.c.cn.statementError(r.ctx, r.sctx, err, r.query)
		if r.err == nil {
			r.err = err
		}
	}
	return err
}

// Close implements driver.Rows.
func (r *rows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.c.cn.calls.enter()
	defer r.c.cn.calls.leave()
	err := r.SQLiteRows.Close()
	r.cancel()
	if r.pl.kind == onWriter {
		r.c.writeRows--
		if r.pl.sharedRows {
			r.c.sharedRows--
		}
	}
	c := r.c
	c.settleChanges(r.pl, r.err == nil || ranWhenFailed(r.err))
	c.finish(r.pl, r.err)
	*r = rows{}
	c.spareRows = r
	return err
}
