//go:build cgo

package sqliteserial

import (
	"context"

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
}

// gateShares is the weight of the gate: more shares than there can ever be holders, so the
// writer's exclusive hold is simply all of them.
const gateShares = 1 << 40

// newGate returns a gate.
func newGate() *gate {
	return &gate{sem: semaphore.NewWeighted(gateShares), shares: gateShares}
}

// acquireShared blocks until a reader may use the database or ctx is done.
func (g *gate) acquireShared(ctx context.Context) error {
	if g == nil {
		return nil
	}
	return g.sem.Acquire(ctx, 1)
}

// releaseShared ends a reader's use.
func (g *gate) releaseShared() {
	if g != nil {
		g.sem.Release(1)
	}
}

// acquireExclusive blocks until no reader uses the database or ctx is done.
func (g *gate) acquireExclusive(ctx context.Context) error {
	if g == nil {
		return nil
	}
	return g.sem.Acquire(ctx, g.shares)
}

// releaseExclusive ends the writer's exclusive use.
func (g *gate) releaseExclusive() {
	if g != nil {
		g.sem.Release(g.shares)
	}
}
