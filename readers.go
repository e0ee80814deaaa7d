package sqliteserial

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// readerPool holds the reader connections: query-only connections opened lazily, up to a
// limit, each used by one logical connection at a time.
type readerPool struct {
	open  func() (*physConn, error)
	gate  *gate       // one share per reader in use, when the database has no WAL
	reads *readEpochs // the reads under way, for checkpoints

	slots chan struct{}  // a token per reader opened or being opened
	idle  chan *physConn // readers ready for use

	closing chan struct{} // closed by close, to wake waiters

	mu      sync.Mutex
	closed  bool
	inUse   int
	drained chan struct{} // closed when the last reader in use comes back after close
	stats   readerStats   // under mu
}

// readerStats are the pool's cumulative counters.
type readerStats struct {
	opened   uint64 // physical readers opened
	acquired uint64 // readers handed out
	maxInUse int    // the most readers in use at once
}

func newReaderPool(limit int, open func() (*physConn, error), g *gate) *readerPool {
	return &readerPool{
		open:    open,
		gate:    g,
		slots:   make(chan struct{}, limit),
		idle:    make(chan *physConn, limit),
		closing: make(chan struct{}),
	}
}

// get hands out an idle reader, opens a new one while fewer than the limit are open, or
// waits for one to come back until ctx is done.
func (p *readerPool) get(ctx context.Context) (*physConn, error) {
	if err := p.gate.acquireShared(ctx); err != nil {
		return nil, err
	}
	c, err := p.take(ctx)
	if err != nil {
		p.gate.releaseShared()
		return nil, err
	}
	if p.reads != nil {
		c.readEpoch = p.reads.begin()
	}
	return c, nil
}

func (p *readerPool) take(ctx context.Context) (*physConn, error) {
	var c *physConn
	select {
	case c = <-p.idle: // an idle reader is always preferred to opening one
	default:
		select {
		case c = <-p.idle:
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.closing:
			return nil, ErrClosed
		}
	}
	if c != nil && closedUnderneath(c) {
		c.Close()
		c = nil // open a replacement in its slot
	}
	if c == nil {
		var err error
		if c, err = p.open(); err != nil {
			<-p.slots
			return nil, err
		}
		p.mu.Lock()
		p.stats.opened++
		p.mu.Unlock()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		<-p.slots
		return nil, ErrClosed
	}
	p.inUse++
	p.stats.acquired++
	p.stats.maxInUse = max(p.stats.maxInUse, p.inUse)
	p.mu.Unlock()
	return c, nil
}

// put gives a reader back. A reader left inside a transaction is rolled back first; one
// that cannot be, or that broke, is closed and its slot freed for a new one.
func (p *readerPool) put(c *physConn, broken bool) {
	broken = broken || closedUnderneath(c)
	if !broken && !c.AutoCommit() {
		_, err := c.ExecContext(context.Background(), "ROLLBACK", nil)
		broken = err != nil
	}
	if p.reads != nil {
		p.reads.end(c.readEpoch)
	}
	p.mu.Lock()
	p.inUse--
	keep := !p.closed && !broken
	if keep {
		p.idle <- c // never blocks: there are at most cap(idle) readers
	}
	if p.closed && p.inUse == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
	p.mu.Unlock()
	if !keep {
		c.Close()
		<-p.slots
	}
	p.gate.releaseShared()
}

// close closes the idle readers and refuses new hand-outs, then waits until deadline for the
// readers in use to come back; those that come back later are closed then.
func (p *readerPool) close(deadline time.Time) error {
	p.mu.Lock()
	p.closed = true
	close(p.closing)
	for {
		select {
		case c := <-p.idle:
			c.Close()
			<-p.slots
			continue
		default:
		}
		break
	}
	if p.inUse == 0 {
		p.mu.Unlock()
		return nil
	}
	drained := make(chan struct{})
	p.drained = drained
	p.mu.Unlock()

	if closedBy(drained, deadline) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse == 0 {
		return nil
	}
	return fmt.Errorf("sqliteserial: close: %d reader(s) still in use (rows or a read-only transaction left open); they are closed when released", p.inUse)
}

// snapshot returns the pool's counters, the readers open and those in use.
func (p *readerPool) snapshot() (readerStats, int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats, len(p.slots), p.inUse
}
