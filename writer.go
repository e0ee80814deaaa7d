//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"
)

// holdKind says what kind of unit of work holds the writer.
type holdKind uint8

const (
	// holdStatement is an autocommit statement or script, with its rows while they are open.
	holdStatement holdKind = iota
	// holdTransaction is a transaction begun with BeginTx.
	holdTransaction
	// holdSQLTransaction is a transaction begun in SQL (BEGIN or SAVEPOINT) on a session.
	holdSQLTransaction
	// holdAccess is a caller of WithWriter.
	holdAccess
)

func (k holdKind) String() string {
	switch k {
	case holdTransaction:
		return "a transaction"
	case holdSQLTransaction:
		return "a transaction begun in SQL"
	case holdAccess:
		return "a caller of WithWriter"
	}
	return "a statement"
}

// writeWaiter is one unit of work waiting in the writer queue.
type writeWaiter struct {
	ready   chan struct{} // closed when the waiter is granted the writer or refused
	kind    holdKind
	since   time.Time // when it joined the queue
	granted bool      // set under writer.mu before ready is closed
	err     error     // set under writer.mu before ready is closed when the queue refuses it
	// batchable is set for a unit whose statement may join a batch (see batch.go).
	batchable bool
}

// waitTimers holds stopped timers for the write-wait limit: a unit that waits is common
// under load, and a timer made and dropped each time costs more than the handover itself.
var waitTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// writer owns the one writer connection and the queue of units of work waiting for it.
//
// The queue is served in FIFO order, one unit of work at a time. Whoever holds the writer is
// its only user and hands it directly to the head of the queue on release, so a waiter that
// arrives later never overtakes one that came earlier. Because every waiter is a record in
// the queue rather than a goroutine parked on a mutex, the holder can see what waits behind
// it: group commit (running the waiting autocommit statements as one transaction with a
// SAVEPOINT each) attaches here by letting the holder of a statement take the statement
// waiters behind it and answer each of them, without changing how units are queued.
type writer struct {
	limit time.Duration // _serial_write_wait
	gate  *gate         // taken exclusively while held, when the database has no WAL
	open  func() (*physConn, error)

	mu        sync.Mutex
	held      bool
	kind      holdKind  // what holds it
	since     time.Time // since when
	queue     []*writeWaiter
	closing   bool
	abandoned bool // Close found the writer held: release closes the connection

	// conn is the physical writer connection. Only the holder uses it; it is nil after it
	// broke, until the next holder opens another. reopen asks the next holder to replace
	// it, as after SQLite refused a write because it opened the file read-only.
	conn   *physConn
	reopen bool

	// checkpoint keeps the WAL bounded (see checkpoint.go).
	checkpoint checkpointer

	// batch is the group commit open on conn, if any (see batch.go); batchMax is the most
	// statements one takes (_serial_batch_max), below 2 for none. Only the holder uses
	// batch.
	batch    writeBatch
	batchMax int

	stats writerStats // under mu

	// testHookQueued, when set by a test, is called under mu with the queue's depth each
	// time a waiter joins the queue.
	testHookQueued func(depth int)
}

// writerStats are the writer's cumulative counters.
type writerStats struct {
	units     uint64        // units of work granted the writer
	waits     uint64        // of which had to queue
	waitTotal time.Duration // time spent queueing, over all units
	waitMax   time.Duration
	holdTotal time.Duration // time the writer was held, over all units
	holdMax   time.Duration
	gaveUp    uint64 // waiters that gave up (context or limit)

	batches           uint64 // batches committed (or whose COMMIT failed)
	batched           uint64 // statements in them
	batchMax          int    // the most statements one of them took
	batchesRolledBack uint64 // batches SQLite rolled back on its own, whose statements ran again

	checkpoints checkpointStats
}

// acquire makes the caller the holder of the writer, waiting in the queue behind every unit
// that came before. It fails without ever granting the writer when ctx is done first (with
// ctx's own error, as mattn/go-sqlite3 returns it), when the wait reaches the write-wait
// limit (a *WriteWaitError that wraps context.DeadlineExceeded), or when the connector is
// closing (ErrClosed). On success the caller must call release exactly once.
func (w *writer) acquire(ctx context.Context, kind holdKind) error {
	return w.acquireUnit(ctx, kind, false)
}

// acquireUnit is acquire for a unit that says whether its statement may join a batch.
func (w *writer) acquireUnit(ctx context.Context, kind holdKind, batchable bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return ErrClosed
	}
	if !w.held && len(w.queue) == 0 {
		w.held, w.kind, w.since = true, kind, start
		w.stats.units++
		w.mu.Unlock()
	} else if err := w.wait(ctx, kind, start, batchable); err != nil {
		return err
	} else if err := ctx.Err(); err != nil {
		// Granted just as the caller gave up: the unit must not run.
		w.releaseQueue()
		return err
	}
	if err := w.acquireGate(ctx, start); err != nil {
		w.releaseQueue()
		return err
	}
	if w.conn == nil || w.reopen || closedUnderneath(w.conn) {
		if w.conn != nil {
			w.conn.Close()
		}
		c, err := w.openWritable(w.reopen)
		w.reopen = false
		if err != nil {
			w.conn = nil
			w.release()
			return err
		}
		w.conn = c
	}
	w.conn.ledger = changeLedger{} // a unit begins with no session's statement under way
	return nil
}

// openWritable opens a writer connection. After SQLite refused a write because it had
// opened the file read-only, the first connection opened again may be read-only still
// (SQLite reuses the file descriptors of the process's closed connections): it is checked
// with a write lock taken and given back, and opened once more if it cannot take it.
func (w *writer) openWritable(check bool) (*physConn, error) {
	c, err := w.open()
	for attempt := 0; err == nil && check && attempt < 2; attempt++ {
		if _, lockErr := c.ExecContext(context.Background(), "BEGIN IMMEDIATE; ROLLBACK", nil); !isReadOnlyError(lockErr) {
			break
		}
		c.Close()
		c, err = w.open()
	}
	return c, err
}

// closedUnderneath reports whether c was closed by someone else than the driver. mattn's
// Ping reports driver.ErrBadConn exactly when the connection has been closed, and costs no
// call into SQLite.
func closedUnderneath(c *physConn) bool {
	return c.Ping(context.Background()) == driver.ErrBadConn
}

// wait queues a waiter and blocks until it is granted the writer or gives up. It is called
// with w.mu held and returns with it released.
func (w *writer) wait(ctx context.Context, kind holdKind, start time.Time, batchable bool) error {
	wt := &writeWaiter{ready: make(chan struct{}), kind: kind, since: start, batchable: batchable}
	w.queue = append(w.queue, wt)
	if w.testHookQueued != nil {
		w.testHookQueued(len(w.queue))
	}
	w.mu.Unlock()

	timer := waitTimers.Get().(*time.Timer)
	timer.Reset(w.limit)
	defer func() {
		timer.Stop() // since Go 1.23 a stopped timer delivers nothing more
		waitTimers.Put(timer)
	}()
	// The caller's own context ending gives its own error; the limit, a *WriteWaitError.
	var gaveUp func() error
	select {
	case <-wt.ready:
		return wt.err
	case <-ctx.Done():
		gaveUp = ctx.Err
	case <-timer.C:
		gaveUp = nil
	}
	limitError := func() error {
		if gaveUp != nil {
			return gaveUp()
		}
		e := &WriteWaitError{Waited: time.Since(start), Limit: w.limit, Err: context.DeadlineExceeded}
		if w.held {
			e.Holder, e.HeldFor = w.kind.String(), time.Since(w.since)
		}
		return e
	}

	w.mu.Lock()
	switch {
	case wt.err != nil:
		w.mu.Unlock()
		return wt.err
	case wt.granted:
		// Granted as the caller gave up: the unit never runs, the next one does.
		w.stats.gaveUp++
		e := limitError()
		w.mu.Unlock()
		w.releaseQueue()
		return e
	}
	for i, q := range w.queue {
		if q == wt {
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
			break
		}
	}
	w.stats.gaveUp++
	e := limitError()
	w.mu.Unlock()
	return e
}

// acquireGate takes the gate exclusively, within what is left of the write-wait limit.
func (w *writer) acquireGate(ctx context.Context, start time.Time) error {
	if w.gate == nil {
		return nil
	}
	gctx, cancel := context.WithDeadline(ctx, start.Add(w.limit))
	defer cancel()
	if err := w.gate.acquireExclusive(gctx); err != nil {
		if err == ErrClosed {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return &WriteWaitError{Waited: time.Since(start), Limit: w.limit, Holder: "readers of a database without WAL",
			Err: context.DeadlineExceeded}
	}
	return nil
}

// setKind records that the holder became a different kind of unit, as a statement that
// began a transaction in SQL does.
func (w *writer) setKind(kind holdKind) {
	w.mu.Lock()
	w.kind = kind
	w.mu.Unlock()
}

// release ends the caller's hold and hands the writer to the next waiter, after a
// checkpoint if the WAL grew past its limit.
func (w *writer) release() {
	if !w.batch.open {
		w.afterUnit(time.Since(w.since))
	} // else commitBatch checks the WAL once the batch is committed
	w.gate.releaseExclusive()
	w.releaseQueue()
}

// releaseQueue hands the writer to the next waiter, or frees it. A batch open on the writer
// stays open for the next waiter if it may join it, and is committed first otherwise.
func (w *writer) releaseQueue() {
	now := time.Now()
	w.mu.Lock()
	if w.batch.open && !w.batchGoesOnLocked(now) {
		w.mu.Unlock()
		w.commitBatch()
		now = time.Now()
		w.mu.Lock()
	}
	held := now.Sub(w.since)
	w.stats.holdTotal += held
	w.stats.holdMax = max(w.stats.holdMax, held)
	if len(w.queue) > 0 {
		next := w.queue[0]
		copy(w.queue, w.queue[1:])
		w.queue[len(w.queue)-1] = nil
		w.queue = w.queue[:len(w.queue)-1]
		next.granted = true
		w.kind, w.since = next.kind, now
		w.stats.units++
		waited := now.Sub(next.since)
		w.stats.waits++
		w.stats.waitTotal += waited
		w.stats.waitMax = max(w.stats.waitMax, waited)
		w.mu.Unlock()
		close(next.ready)
		return
	}
	w.held = false
	var orphan *physConn
	if w.abandoned {
		orphan, w.conn = w.conn, nil
	}
	w.mu.Unlock()
	if orphan != nil {
		orphan.Close()
	}
}

// adoptImage copies the writer connection's main database, deserialized into memory, into
// the database file through a new writer connection, which replaces it. Only the holder
// calls it. On failure the writer is replaced all the same, and the file is as it was
// unless the copy failed part way.
func (w *writer) adoptImage() error {
	image := w.conn
	w.conn = nil
	defer image.Close()
	file, err := w.open()
	if err != nil {
		return err
	}
	w.conn = file
	b, err := file.Backup("main", image.SQLiteConn, "main")
	if err != nil {
		return fmt.Errorf("sqliteserial: WithWriter: copying the deserialized image into the database file: %w", err)
	}
	_, err = b.Step(-1)
	if ferr := b.Finish(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("sqliteserial: WithWriter: copying the deserialized image into the database file: %w", err)
	}
	return nil
}

// replaceNext asks the next holder to replace the connection: SQLite opened the file
// read-only, and once it is writable again only a new connection writes. Only the holder
// calls it.
func (w *writer) replaceNext() {
	w.reopen = true
}

// checkBroken drops the connection after an error when it can no longer be used, so the
// next holder opens another. Only the holder calls it.
func (w *writer) checkBroken() {
	if w.conn != nil && closedUnderneath(w.conn) {
		w.conn.Close()
		w.conn = nil
	}
}

// refuse refuses every waiter and every later acquire, for Close.
func (w *writer) refuse() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closing = true
	for _, wt := range w.queue {
		wt.err = ErrClosed
		close(wt.ready)
	}
	w.queue = nil
}

// shutdown checkpoints the WAL into the database file and closes the connection. It is
// called after refuse, once the calls running inside the driver have returned. A writer
// still held then is held by what the program left open (rows, a transaction): it is
// closed when released, without a checkpoint. The checkpoint never waits: a read of
// another process or another handle that keeps it from completing leaves the WAL as it is,
// and no lock is held waiting for it.
func (w *writer) shutdown(checkpoint bool) error {
	w.mu.Lock()
	if w.held {
		w.abandoned = true
		w.mu.Unlock()
		return nil
	}
	c := w.conn
	w.conn = nil
	w.mu.Unlock()
	if c == nil {
		return nil
	}
	if checkpoint {
		if _, err := c.ExecContext(context.Background(), "PRAGMA busy_timeout = 0", nil); err == nil {
			_, _ = c.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)", nil)
		}
	}
	return c.Close()
}

// holder returns what holds the writer and since how long, or "" when it is free.
func (w *writer) holder() (string, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.held {
		return "", 0
	}
	return w.kind.String(), time.Since(w.since)
}

// snapshot returns the writer's counters and queue depth.
func (w *writer) snapshot() (writerStats, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats, len(w.queue)
}

// closedBy reports whether ch is closed by deadline, waiting until then at most.
func closedBy(ch <-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
		return false
	}
}
