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
	readOnly bool // on a reader, else on the writer
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
// A transaction that is not read-only takes the writer, waiting in its queue as any unit of
// work does, and runs BEGIN IMMEDIATE (BEGIN EXCLUSIVE with _txlock=exclusive); every
// statement in it runs on the writer. A read-only transaction takes a reader, begins there
// and reads once so that its snapshot is fixed from this moment; it never touches the
// writer, and SQLite refuses its writes. On a read-only database every transaction is of
// the second kind.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
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
	if opts.ReadOnly || c.cn.writer == nil {
		return c.beginRead(ctx)
	}
	return c.beginWrite(ctx)
}

func (c *conn) beginWrite(ctx context.Context) (driver.Tx, error) {
	w := c.cn.writer
	if !c.holding {
		if err := w.acquire(ctx, holdTransaction); err != nil {
			return nil, err
		}
		c.holding = true
	}
	if _, err := w.conn.ExecContext(ctx, c.cn.topo.begin, nil); err != nil {
		c.afterWriter(classification{}, err)
		return nil, err
	}
	w.setKind(holdTransaction)
	c.tx = &tx{c: c}
	return c.tx, nil
}

func (c *conn) beginRead(ctx context.Context) (driver.Tx, error) {
	r, err := c.acquireReader(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := r.ExecContext(ctx, "BEGIN", nil); err != nil {
		c.releaseReader(err)
		return nil, err
	}
	// In WAL mode a transaction's snapshot starts at its first read, not at BEGIN.
	snap, err := r.QueryContext(ctx, "SELECT 1 FROM sqlite_schema LIMIT 1", nil)
	if err == nil {
		err = snap.Close()
	}
	if err != nil {
		_, _ = r.ExecContext(context.Background(), "ROLLBACK", nil)
		c.releaseReader(err)
		return nil, err
	}
	c.tx = &tx{c: c, readOnly: true}
	return c.tx, nil
}

// endTx commits or rolls back t and gives back what it holds. As mattn/go-sqlite3 does, a
// failed COMMIT is followed by a ROLLBACK, since database/sql considers the transaction
// over either way.
func (c *conn) endTx(t *tx, commit bool) error {
	if c.tx != t {
		return sql.ErrTxDone
	}
	c.tx = nil
	if t.aborted != nil {
		// The time limit already rolled it back and released the writer.
		if commit {
			return t.aborted
		}
		return nil
	}
	verb := "ROLLBACK"
	if commit {
		verb = "COMMIT"
	}
	p := c.reader
	if !t.readOnly {
		p = c.cn.writer.conn
	}
	var err error
	if p == nil {
		err = errWriterBroke
	} else if _, err = p.ExecContext(context.Background(), verb, nil); err != nil && commit {
		_, _ = p.ExecContext(context.Background(), "ROLLBACK", nil)
	}
	if t.readOnly {
		c.releaseReader(err)
	} else {
		c.afterWriter(classification{}, err)
	}
	return err
}

// abortTx rolls back the session's write transaction after err, the time limit of one of
// its statements, and releases the writer once no rows of it are open.
func (c *conn) abortTx(err error) {
	if p := c.cn.writer.conn; p != nil && !p.AutoCommit() {
		_, _ = p.ExecContext(context.Background(), "ROLLBACK", nil)
	}
	c.tx.aborted = fmt.Errorf("%w after a statement passed its time limit: %w", ErrTxAborted, err)
}
