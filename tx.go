//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
)

var _ driver.Tx = (*tx)(nil)

// tx is a transaction begun with BeginTx.
type tx struct {
	c        *conn
	readOnly bool      // on a reader or the session's own connection, else with the writer's turn
	pl       placement // where a read-only transaction runs
	// queryOnly is set when the transaction made the session's own connection query-only,
	// to be undone at its end: unlike a reader, that connection can write.
	queryOnly bool
	// aborted is set when a statement's time limit rolled the transaction back; it wraps
	// ErrTxAborted and is returned by every later statement and by Commit.
	aborted error
}

// Commit implements driver.Tx.
func (t *tx) Commit() error { return t.c.endTx(t, true) }

// Rollback implements driver.Tx.
func (t *tx) Rollback() error { return t.c.endTx(t, false) }

// isolationSupported reports whether a transaction can honour level. A write transaction
// runs alone on the writer, after BEGIN IMMEDIATE: that is serializable. A read-only one
// reads one snapshot: serializable, since it writes nothing, and snapshot isolation.
func isolationSupported(level sql.IsolationLevel, readOnly bool) bool {
	switch level {
	case sql.LevelDefault, sql.LevelSerializable:
		return true
	case sql.LevelSnapshot:
		return readOnly
	}
	return false
}

// BeginTx implements driver.ConnBeginTx.
//
// A transaction that is not read-only takes the writer's turn, waiting in its queue as any
// unit of work does, and runs BEGIN IMMEDIATE (BEGIN EXCLUSIVE with _txlock=exclusive) on
// the writer, or on the session's own connection if it has one; every statement in it runs
// there. A read-only transaction takes a reader (or the session's own connection), begins
// there and reads once so that its snapshot is fixed from this moment; it never touches the
// writer's turn, and SQLite refuses its writes. On a read-only database every transaction
// is of the second kind.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.cn.calls.enter()
	defer c.cn.calls.leave()
	if err := c.usable(); err != nil {
		return nil, err
	}
	level := sql.IsolationLevel(opts.Isolation)
	if !isolationSupported(level, opts.ReadOnly) {
		return nil, &IsolationLevelError{Level: level, ReadOnly: opts.ReadOnly}
	}
	if c.tx != nil {
		return nil, fmt.Errorf("sqliteserial: a transaction is already open on this connection")
	}
	if opts.ReadOnly && c.cn.exclusive.Load() && c.session == nil {
		// No reader can read the file: the transaction runs on the writer, query-only.
		dt, err := c.beginWrite(ctx)
		if err != nil {
			return nil, err
		}
		t := dt.(*tx)
		if t.queryOnly, err = makeQueryOnly(c.writeTarget()); err != nil {
			_ = c.endTx(t, false)
			return nil, err
		}
		return t, nil
	}
	if opts.ReadOnly || c.cn.writer == nil {
		if err := c.heldForRead(); err != nil {
			return nil, err
		}
		return c.beginRead(ctx)
	}
	return c.beginWrite(ctx)
}

// heldForRead returns why a read-only transaction cannot begin on a session that holds the
// writer's turn, or nil. Inside a transaction begun in SQL it is SQLite's own error for a
// BEGIN there, as on one connection. With rows of a write still open and no WAL, a reader
// would wait for the session itself; with WAL the transaction runs on a reader as usual.
func (c *conn) heldForRead() error {
	switch {
	case !c.holding:
		return nil
	case c.sqlTx:
		p := c.writeTarget()
		if p == nil {
			return errWriterBroke
		}
		if _, err := p.ExecContext(context.Background(), "BEGIN", nil); err != nil {
			return err
		}
		_, _ = p.ExecContext(context.Background(), "ROLLBACK", nil)
		return fmt.Errorf("sqliteserial: the connection's transaction begun in SQL had ended")
	case c.cn.gate != nil:
		return fmt.Errorf("sqliteserial: a read-only transaction cannot begin while rows that hold the writer are open " +
			"on this connection of a database without WAL; close them first")
	}
	return nil
}

func (c *conn) beginWrite(ctx context.Context) (driver.Tx, error) {
	c.cn.routes.pinned.Add(1)
	pl, err := c.placeOnWriter(ctx, noJudgement)
	if err == nil {
		err = c.cn.pragmas.sync(pl.conn)
	}
	if err != nil {
		if pl.conn != nil {
			c.settleChanges(pl, false)
			c.afterWriter(pl, err)
		}
		return nil, err
	}
	_, err = pl.conn.run(ctx, c.beginStatement(pl.conn))
	c.settleChanges(pl, false) // BEGIN changes neither value
	if err != nil {
		c.afterWriter(pl, err)
		return nil, err
	}
	c.cn.writer.setKind(holdTransaction)
	c.tx = &tx{c: c}
	return c.tx, nil
}

func (c *conn) beginRead(ctx context.Context) (driver.Tx, error) {
	c.cn.routes.pinned.Add(1)
	pl, err := c.placeForRead(ctx, noJudgement)
	if err != nil {
		return nil, err
	}
	if err = c.cn.pragmas.sync(pl.conn); err == nil {
		_, err = pl.conn.run(ctx, "BEGIN")
	}
	if err != nil {
		c.settleChanges(pl, false)
		c.finish(pl, err)
		return nil, err
	}
	// In WAL mode a transaction's snapshot starts at its first read, not at BEGIN.
	snap, err := pl.conn.QueryContext(ctx, "SELECT 1 FROM sqlite_schema LIMIT 1", nil)
	if err == nil {
		err = snap.Close()
	}
	t := &tx{c: c, readOnly: true, pl: pl}
	if err == nil && pl.kind == onSession {
		t.queryOnly, err = makeQueryOnly(pl.conn)
	}
	if err != nil {
		_, _ = pl.conn.ExecContext(context.Background(), "ROLLBACK", nil)
		c.settleChanges(pl, false)
		c.finish(pl, err)
		return nil, err
	}
	c.tx = t
	return c.tx, nil
}

// makeQueryOnly turns PRAGMA query_only on for p and reports whether it was off.
func makeQueryOnly(p *physConn) (bool, error) {
	was, err := queryText(p.SQLiteConn, "PRAGMA query_only")
	if err != nil || was != "0" {
		return false, err
	}
	_, err = p.ExecContext(context.Background(), "PRAGMA query_only = 1", nil)
	return err == nil, err
}

// endTx commits or rolls back t and gives back what it holds.
func (c *conn) endTx(t *tx, commit bool) error {
	c.cn.calls.enter()
	defer c.cn.calls.leave()
	if c.tx != t {
		return sql.ErrTxDone
	}
	c.tx = nil
	if t.aborted != nil {
		// The time limit or a broken connection already ended it and released the writer.
		if t.readOnly {
			c.settleChanges(t.pl, false)
			c.finish(t.pl, nil)
		}
		if commit {
			return t.aborted
		}
		return nil
	}
	pl := t.pl
	if !t.readOnly {
		pl = placement{conn: c.writeTarget(), kind: onWriter, cls: noJudgement}
	}
	var err error
	if pl.conn == nil {
		err = errWriterBroke
	} else {
		_, err = pl.conn.endTx(commit)
	}
	if t.queryOnly && pl.conn != nil {
		if _, qerr := pl.conn.ExecContext(context.Background(), "PRAGMA query_only = 0", nil); err == nil {
			err = qerr
		}
	}
	if t.readOnly {
		c.settleChanges(pl, false)
	} else {
		c.schemaSettled()
	}
	c.finish(pl, err)
	return err
}

// abortTx rolls back the session's write transaction after err, the time limit of one of
// its statements, and releases the writer once no rows of it are open.
func (c *conn) abortTx(err error) {
	if p := c.writeTarget(); p != nil && !p.AutoCommit() {
		_, _ = p.ExecContext(context.Background(), "ROLLBACK", nil)
	}
	c.tx.aborted = fmt.Errorf("%w after a statement passed its time limit: %w", ErrTxAborted, err)
}
