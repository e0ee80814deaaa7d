package turn

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// endedCtx reports Canceled from Err once ended is set, while its Done channel never
// closes: a waiter with it wakes only when it is granted the turn, and then finds its
// context ended (Acquire's check after wait), deterministically.
type endedCtx struct {
	context.Context
	ended atomic.Bool
}

func (c *endedCtx) Err() error {
	if c.ended.Load() {
		return context.Canceled
	}
	return nil
}

// TestGrantedAsContextEndsCountsAsGaveUp checks that a waiter granted the turn as its
// context ended, which never runs (Acquire returns its context's error), counts in
// Stats.GaveUp however it notices, in wait or in Acquire's check after it.
func TestGrantedAsContextEndsCountsAsGaveUp(t *testing.T) {
	tu := New(errClosed, nil)
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{Kind: 9}, long))
	ctx := &endedCtx{Context: context.Background()}
	done := make(chan error, 1)
	go func() { done <- tu.Acquire(ctx, Unit{Kind: 2}, long) }()
	receive(t, depths)
	ctx.ended.Store(true)
	tu.Release()
	require.ErrorIs(t, receive(t, done), context.Canceled)
	_, _, held := tu.Holder()
	require.False(t, held, "the waiter handed the turn on")
	s, _ := tu.Stats()
	require.Equal(t, uint64(1), s.GaveUp, "the waiter whose context ended gave up")
}

// slowEnds is a Batch whose Ends takes as long as pause (under the turn's lock) and keeps
// no batch: a waiter's limit passes while the hand-over to it is under way.
type slowEnds struct{ pause time.Duration }

func (b slowEnds) Ends(Unit, bool) bool { time.Sleep(b.pause); return false }
func (slowEnds) End()                   {}

// TestLimitErrorOfAWaiterGrantedAtItsLimit checks the *LimitError of a waiter whose limit
// passed while the holder (Kind 9) held the turn, and that was granted the turn just then:
// it names the unit that held the turn for the whole of its wait, not the waiter itself,
// held for about nothing.
func TestLimitErrorOfAWaiterGrantedAtItsLimit(t *testing.T) {
	const limit, holdFor = 40 * time.Millisecond, 30 * time.Millisecond
	tu := New(errClosed, slowEnds{pause: 2 * limit})
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{Kind: 9}, long))
	done := make(chan error, 1)
	go func() { done <- tu.Acquire(context.Background(), Unit{Kind: 2}, limit) }()
	receive(t, depths)
	time.Sleep(holdFor)
	tu.Release() // Ends holds the lock past the waiter's limit, then grants it the turn
	err := receive(t, done)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.True(t, le.Held)
	require.Equal(t, uint8(9), le.Holder.Kind, "the unit that held the turn while it waited")
	require.GreaterOrEqual(t, le.HeldFor, holdFor)
}
