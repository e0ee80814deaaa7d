//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql/driver"
	"io"
	"reflect"
	"slices"
)

// A write sent through Query, as ORMs and generated code send INSERT ... RETURNING, is
// settled before Query returns. mattn/go-sqlite3 runs such a statement's first step inside
// Query, but SQLite commits an autocommit statement only when it is reset or has returned
// its last row; a context that ends in between makes mattn report the context's error for
// a write that SQLite then commits. So outside a transaction the driver runs the statement
// inside one of its own, reads all its rows and commits, all before Query returns: when
// Query fails because its context or time limit ended, the write is not applied; when it
// succeeds, the write is committed, and the writer is free again while the caller reads the
// rows. When the statement fails of its own accord (a constraint), the driver commits what
// autocommit would have kept: nothing, but for the rows an OR FAIL conflict or a
// RAISE(FAIL) keeps.

var (
	_ driver.Rows                           = (*settledRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*settledRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*settledRows)(nil)
	_ driver.RowsColumnTypeScanType         = (*settledRows)(nil)
)

// settleWrite runs the call, a write that settles (classification.settles), at pl, which
// holds the writer's turn outside any transaction, and gives pl back. It returns the
// statement's rows, read in full, once the write is committed. A write interrupted by its
// context or time limit is rolled back; one that failed of its own accord keeps what
// autocommit would keep.
func (c *conn) settleWrite(ctx context.Context, pl placement, cl call) (driver.Rows, error) {
	p := pl.conn
	before := readValues(p.h).total
	if pl.batch == nil {
		if _, err := p.run(context.Background(), c.beginStatement(p)); err != nil {
			return nil, err
		}
	}
	sctx, cancel := c.cn.statementContext(ctx)
	out, err := readSettled(sctx, p, cl)
	if err == nil {
		err = out.err
	}
	cancel()
	err = c.cn.statementError(ctx, sctx, err, cl.query)
	if err != nil {
		if !p.AutoCommit() {
			// What the failed statement kept (OR FAIL, RAISE(FAIL)) shows in the total
			// changes; with nothing kept, a COMMIT would still start a new snapshot, where
			// autocommit leaves none: other sessions' open snapshots stay current. A write
			// whose context or time limit ended after SQLite ran it is undone: its caller
			// is told it failed.
			keep := readValues(p.h).total != before && !isInterruption(err)
			switch {
			case pl.batch == nil:
				_, _ = p.endTx(keep)
			case !keep:
				_, _ = p.run(context.Background(), "ROLLBACK TO "+batchSavepoint)
			}
		}
		return nil, err
	}
	if pl.batch != nil {
		// The statement's savepoint and the batch's COMMIT settle it (see batch.go).
	} else if _, err := p.endTx(true); err != nil {
		return nil, err
	}
	out.ctx = ctx
	c.settleChanges(pl, true)
	c.finish(pl, nil)
	return out, nil
}

// bufferRead runs the call at pl, reads all its rows and gives pl back: pl holds what rows
// left open must not keep from other sessions, the writer's turn outside any transaction
// (for a read that must run on the writer, or a script ending in a SELECT) or a share of
// the gate of a database without WAL. An error after the first step comes from the rows,
// after the rows before it, as with mattn.
func (c *conn) bufferRead(ctx context.Context, pl placement, cl call) (driver.Rows, error) {
	sctx, cancel := c.cn.statementContext(ctx)
	out, err := readSettled(sctx, pl.conn, cl)
	cancel()
	if err != nil {
		return nil, c.cn.statementError(ctx, sctx, err, cl.query)
	}
	if out.err != nil {
		out.err = c.cn.statementError(ctx, sctx, out.err, cl.query)
	}
	out.ctx = ctx
	c.settleChanges(pl, out.err == nil || ranWhenFailed(out.err))
	c.finish(pl, out.err)
	return out, nil
}

// readSettled runs the call on p under sctx and reads every row of it, with the column
// metadata mattn's rows report. An error running the call is returned; an error stepping
// it is kept in the rows, after those read before it.
func readSettled(sctx context.Context, p *physConn, cl call) (*settledRows, error) {
	r, err := cl.runQuery(sctx, p)
	if err != nil {
		return nil, err
	}
	columns := r.Columns()
	out := &settledRows{
		columns:   columns,
		dbTypes:   make([]string, len(columns)),
		scanTypes: make([]reflect.Type, len(columns)),
	}
	for i := range columns {
		out.dbTypes[i] = r.ColumnTypeDatabaseTypeName(i)
		out.scanTypes[i] = r.ColumnTypeScanType(i)
	}
	dest := make([]driver.Value, len(columns))
	for {
		err = r.Next(dest)
		if err != nil {
			break
		}
		out.values = append(out.values, slices.Clone(dest))
	}
	if cerr := r.Close(); err == io.EOF {
		err = cerr
	}
	out.err = err
	return out, nil
}

// settledRows are the rows of a settled write, read in full: they hold no connection.
type settledRows struct {
	columns   []string
	dbTypes   []string
	scanTypes []reflect.Type
	values    [][]driver.Value
	next      int
	err       error // what Next returns after the values, io.EOF when nil
	// ctx is the caller's: as mattn's rows do, every Next after the first (whose step ran
	// inside Query) fails with its error once it ended.
	ctx   context.Context
	calls int
}

// Columns implements driver.Rows.
func (r *settledRows) Columns() []string { return r.columns }

// Next implements driver.Rows.
func (r *settledRows) Next(dest []driver.Value) error {
	r.calls++
	if r.calls > 1 && r.ctx != nil && r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	if r.next >= len(r.values) {
		if r.err != nil {
			return r.err
		}
		return io.EOF
	}
	copy(dest, r.values[r.next])
	r.values[r.next] = nil
	r.next++
	return nil
}

// Close implements driver.Rows.
func (r *settledRows) Close() error {
	r.values, r.next = nil, 0
	return nil
}

// ColumnTypeDatabaseTypeName implements driver.RowsColumnTypeDatabaseTypeName, as
// mattn's rows do: the column's declared type.
func (r *settledRows) ColumnTypeDatabaseTypeName(i int) string { return r.dbTypes[i] }

// ColumnTypeNullable implements driver.RowsColumnTypeNullable, as mattn's rows do: every
// column may be NULL.
func (r *settledRows) ColumnTypeNullable(int) (nullable, ok bool) { return true, true }

// ColumnTypeScanType implements driver.RowsColumnTypeScanType, as mattn's rows do.
func (r *settledRows) ColumnTypeScanType(i int) reflect.Type { return r.scanTypes[i] }
