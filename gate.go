//go:build cgo

package sqliteserial

import (
	"context"
	"time"

	"golang.org/x/sync/semaphore"
)

// gate keeps readers and the writer apart on a database that has no WAL (an in-memory
// database, or a journal mode the DSN chose). Without WAL a reader holds a SHARED lock that
// makes the writer's commit fail with "database is locked", and the writer's lock does the
// same to readers; the gate turns both into waits in Go, honouring contexts. Readers (and
// the classifier) take one share each; the writer takes every share for as long as it is
// held. The semaphore is FIFO, so a waiting writer holds back later readers and is not
// starved. Session connections take a share for their reads, as readers do. A nil gate,
// which is what a WAL database has, lets everyone through.
type gate struct {
	sem    *semaphore.Weighted
	shares int64
	limit  time.Duration // how long a read waits for its share: the write-wait limit
	// closing is cancelled by close, which ends every wait for a share.
	closing context.Context
	close   context.CancelFunc

	// testHookWaiting, when set by a test before the gate is used, is called each time a
	// caller starts waiting for its share or for the whole gate.
	testHookWaiting func()
}

// gateShares is the weight of the gate: more shares than there can ever be holders, so the
// writer's exclusive hold is simply all of them.
const gateShares = 1 << 40

// newGate returns a gate whose reads wait for their share up to limit.
func newGate(limit time.Duration) *gate {
	closing, close := context.WithCancel(context.Background())
	return &gate{sem: semaphore.NewWeighted(gateShares), shares: gateShares, limit: limit, closing: closing, close: close}
}

// acquireShared blocks until a reader may use the database, for the gate's limit at most:
// it fails with ctx's error when ctx ends first, with ErrClosed when the gate closes, and
// with a *WriteWaitError (wrapping context.DeadlineExceeded) at the limit.
func (g *gate) acquireShared(ctx context.Context) error {
	if g == nil || g.sem.TryAcquire(1) {
		return nil
	}
	start := time.Now()
	if g.testHookWaiting != nil {
		g.testHookWaiting()
	}
	wctx, cancel := context.WithTimeout(ctx, g.limit)
	defer cancel()
	stop := context.AfterFunc(g.closing, cancel)
	defer stop()
	if err := g.sem.Acquire(wctx, 1); err != nil {
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case g.closing.Err() != nil:
			return ErrClosed
		}
		return &WriteWaitError{Waited: time.Since(start), Limit: g.limit, Holder: "a unit of work on a database without WAL",
			Err: context.DeadlineExceeded}
	}
	return nil
}

// shut ends every wait for a share under way or to come with ErrClosed; a share free at
// once is still handed out (the connector refuses new work before). Shares held stay held
// until released.
func (g *gate) shut() {
	if g != nil {
		g.close()
	}
}

// releaseShared ends a reader's use.
func (g *gate) releaseShared() {
	if g != nil {
		g.sem.Release(1)
	}
}

// acquireExclusive blocks until no reader uses the database or ctx is done; it fails with
// ErrClosed once the gate is shut.
func (g *gate) acquireExclusive(ctx context.Context) error {
	if g == nil {
		return nil
	}
	if g.sem.TryAcquire(g.shares) {
		return nil
	}
	if g.testHookWaiting != nil {
		g.testHookWaiting()
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(g.closing, cancel)
	defer stop()
	if err := g.sem.Acquire(wctx, g.shares); err != nil {
		if ctx.Err() == nil && g.closing.Err() != nil {
			return ErrClosed
		}
		return err
	}
	return nil
}

// releaseExclusive ends the writer's exclusive use.
func (g *gate) releaseExclusive() {
	if g != nil {
		g.sem.Release(g.shares)
	}
}
