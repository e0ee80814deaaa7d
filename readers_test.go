package sqliteserial

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// poolWithOneReader returns the reader pool of a database limited to one reader, and a
// channel that receives each time a caller starts waiting for a reader.
func poolWithOneReader(t *testing.T) (*readerPool, <-chan struct{}) {
	_, cn := openConnector(t, &Config{DSN: t.TempDir() + "/p.db", Readers: 1})
	require.NoError(t, cn.start())
	waiting := make(chan struct{}, 16)
	cn.readers.mu.Lock()
	cn.readers.testHookWaiting = func() { waiting <- struct{}{} }
	cn.readers.mu.Unlock()
	return cn.readers, waiting
}

// getAsync asks for a reader in a goroutine.
func getAsync(p *readerPool, ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := p.get(ctx)
		if err == nil {
			p.put(c, false, false)
		}
		done <- err
	}()
	return done
}

// TestReaderPoolWaitsInOrderAndHandsOver checks the pool at its limit: a caller waits, a
// caller whose context ends stops waiting, and a reader given back goes to the next waiter.
func TestReaderPoolWaitsInOrderAndHandsOver(t *testing.T) {
	p, waiting := poolWithOneReader(t)
	held, err := p.get(background)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := getAsync(p, ctx)
	receive(t, waiting)
	cancel()
	require.ErrorIs(t, receive(t, gaveUp), context.Canceled)

	next := getAsync(p, background)
	receive(t, waiting)
	p.put(held, false, false)
	require.NoError(t, receive(t, next))
	s, open, inUse := p.snapshot()
	require.Equal(t, 1, open)
	require.Zero(t, inUse)
	require.EqualValues(t, 1, s.opened, "the waiter was handed the same reader")
}

// TestReaderPoolReplacesABrokenReaderForAWaiter checks that a reader given back broken
// frees its slot for the next waiter, which opens a new one.
func TestReaderPoolReplacesABrokenReaderForAWaiter(t *testing.T) {
	p, waiting := poolWithOneReader(t)
	held, err := p.get(background)
	require.NoError(t, err)
	next := getAsync(p, background)
	receive(t, waiting)
	p.put(held, true, false)
	require.NoError(t, receive(t, next))
	s, open, _ := p.snapshot()
	require.Equal(t, 1, open)
	require.EqualValues(t, 2, s.opened)
}

// TestReaderPoolCloseWakesWaiters checks that closing the pool ends every wait.
func TestReaderPoolCloseWakesWaiters(t *testing.T) {
	p, waiting := poolWithOneReader(t)
	held, err := p.get(background)
	require.NoError(t, err)
	blocked := getAsync(p, background)
	receive(t, waiting)
	closed := make(chan error, 1)
	go func() { closed <- p.close(farFuture()) }()
	require.ErrorIs(t, receive(t, blocked), ErrClosed)
	p.put(held, false, false)
	require.NoError(t, receive(t, closed))
	_, open, _ := p.snapshot()
	require.Zero(t, open)
}
