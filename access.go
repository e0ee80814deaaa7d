//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
	"fmt"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// WithWriter runs fn with exclusive use of the writer connection, for what needs mattn's
// connection itself: the backup API, Serialize and Deserialize, hooks, limits. It waits for
// the writer's turn like any unit of work, honouring ctx and _serial_write_wait, and fn
// runs only if the wait succeeded; no other statement runs on the writer until fn returns.
//
// fn must not keep c, close it, or leave a transaction open: a transaction fn leaves open
// is rolled back, and a connection fn closed is replaced. After fn deserialized an image
// over the main database (c.Deserialize(image, "main")), the image is copied into the
// database file, which every connection of the *sql.DB then reads and writes, and the
// writer connection is replaced by one on the file: what fn installed on c (functions,
// hooks, limits) is gone with it. A schema change fn makes is seen
// by the router, whose cached judgements are dropped afterwards. On a read-only database
// there is no writer, and WithWriter fails.
func (cn *Connector) WithWriter(ctx context.Context, fn func(c *sqlite3.SQLiteConn) error) error {
	if err := cn.start(); err != nil {
		return err
	}
	w := cn.writer
	if w == nil {
		return fmt.Errorf("sqliteserial: WithWriter: the database is read-only and has no writer")
	}
	if err := w.acquire(ctx, holdAccess); err != nil {
		return err
	}
	defer w.release()
	if err := cn.pragmas.sync(w.conn); err != nil {
		return err
	}
	err := fn(w.conn.SQLiteConn)
	cn.router.invalidate()
	cn.readers.fileChanged()
	switch {
	case closedUnderneath(w.conn):
		w.checkBroken()
	case !cn.topo.memory && mainInMemory(w.conn.h):
		// fn deserialized an image over the writer's main database, which now lives in
		// memory: the image goes into the database file, where every connection sees it.
		if aerr := w.adoptImage(); err == nil {
			err = aerr
		}
	case !w.conn.AutoCommit():
		_, _ = w.conn.ExecContext(context.Background(), "ROLLBACK", nil)
		if err == nil {
			err = fmt.Errorf("sqliteserial: WithWriter: fn left a transaction open; it was rolled back")
		}
	}
	return err
}

// WithWriter runs fn with exclusive use of the writer connection of db, which must have
// been opened with this driver. See (*Connector).WithWriter.
func WithWriter(ctx context.Context, db *sql.DB, fn func(c *sqlite3.SQLiteConn) error) error {
	cn, err := connectorOf(db)
	if err != nil {
		return err
	}
	return cn.WithWriter(ctx, fn)
}
