package turn

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errClosed = errors.New("closed")

// long is a wait limit no test reaches.
const long = time.Minute

// queued makes t report each new depth of its queue on the returned channel.
func queued(tb testing.TB, t *Turn) <-chan int {
	ch := make(chan int, 1024)
	t.OnQueued(func(depth int) { ch <- depth })
	tb.Cleanup(func() { t.OnQueued(nil) })
	return ch
}

// receive returns the next value of ch, failing after a generous bound.
func receive[T any](tb testing.TB, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatal("nothing arrived")
		panic("unreachable")
	}
}

// TestUnitsAreServedInFIFOOrder queues units one after the other behind a holder and
// checks that each is granted the turn in the order it queued, and that the turn is handed
// over: the next holder is recorded before it runs.
func TestUnitsAreServedInFIFOOrder(t *testing.T) {
	tu := New(errClosed, nil)
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{Kind: 100}, long))

	const n = 20
	order := make(chan int, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			assert.NoError(t, tu.Acquire(context.Background(), Unit{Kind: uint8(k)}, long))
			order <- k
			tu.Release()
		})
		require.Equal(t, k+1, receive(t, depths), "unit %d queued before the next starts", k)
	}
	u, _, held := tu.Holder()
	require.True(t, held)
	require.Equal(t, uint8(100), u.Kind)
	tu.Release()
	wg.Wait()
	close(order)
	k := 0
	for got := range order {
		require.Equal(t, k, got)
		k++
	}
	require.Equal(t, n, k)

	s, depth := tu.Stats()
	require.Zero(t, depth)
	require.Equal(t, uint64(n+1), s.Units)
	require.Equal(t, uint64(n), s.Waits)
	_, _, held = tu.Holder()
	require.False(t, held)
}

// TestReleaseHandsTheTurnToTheHead checks that the head of the queue holds the turn as
// soon as the holder releases it, before it runs: a unit that arrives then queues behind
// it instead of taking the turn.
func TestReleaseHandsTheTurnToTheHead(t *testing.T) {
	tu := New(errClosed, nil)
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{Kind: 1}, long))
	granted := make(chan struct{})
	proceed := make(chan struct{})
	go func() {
		assert.NoError(t, tu.Acquire(context.Background(), Unit{Kind: 2}, long))
		close(granted)
		<-proceed
		tu.Release()
	}()
	receive(t, depths)
	tu.Release()
	u, _, held := tu.Holder()
	require.True(t, held, "the turn went to the waiter, not back to free")
	require.Equal(t, uint8(2), u.Kind)

	late := make(chan error, 1)
	go func() {
		err := tu.Acquire(context.Background(), Unit{Kind: 3}, long)
		late <- err
		if err == nil {
			tu.Release()
		}
	}()
	require.Equal(t, 1, receive(t, depths), "a later unit queues behind the new holder")
	receive(t, granted)
	close(proceed)
	require.NoError(t, receive(t, late))
}

// TestAWaiterGivesUpWithItsContextsError checks that a waiter whose context ends leaves
// the queue with the context's own error and is never granted the turn.
func TestAWaiterGivesUpWithItsContextsError(t *testing.T) {
	tu := New(errClosed, nil)
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{}, long))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tu.Acquire(ctx, Unit{Kind: 7}, long) }()
	receive(t, depths)
	cancel()
	require.ErrorIs(t, receive(t, done), context.Canceled)
	s, depth := tu.Stats()
	require.Zero(t, depth, "the waiter left the queue")
	require.Equal(t, uint64(1), s.GaveUp)
	tu.Release()
	_, _, held := tu.Holder()
	require.False(t, held, "nobody was left to hand the turn to")

	require.ErrorIs(t, tu.Acquire(ctx, Unit{}, long), context.Canceled, "a context that ended never queues")
}

// TestAWaiterGivesUpAtItsLimit checks the *LimitError of a wait that reached its limit: it
// names the holder and how long it held the turn.
func TestAWaiterGivesUpAtItsLimit(t *testing.T) {
	tu := New(errClosed, nil)
	require.NoError(t, tu.Acquire(context.Background(), Unit{Kind: 9}, long))
	err := tu.Acquire(context.Background(), Unit{}, 20*time.Millisecond)
	var limit *LimitError
	require.ErrorAs(t, err, &limit)
	require.GreaterOrEqual(t, limit.Waited, 20*time.Millisecond)
	require.True(t, limit.Held)
	require.Equal(t, uint8(9), limit.Holder.Kind)
	require.GreaterOrEqual(t, limit.HeldFor, limit.Waited)
	u, _, held := tu.Holder()
	require.True(t, held)
	require.Equal(t, uint8(9), u.Kind, "the holder keeps the turn")
	tu.Release()
}

// TestRefuseDrainsTheQueue checks that Refuse refuses every waiter and every later
// Acquire with the turn's error, and that Drain leaves the closing to the last holder.
func TestRefuseDrainsTheQueue(t *testing.T) {
	tu := New(errClosed, nil)
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{}, long))
	const n = 5
	errs := make(chan error, n)
	for range n {
		go func() { errs <- tu.Acquire(context.Background(), Unit{}, long) }()
		receive(t, depths)
	}
	tu.Refuse()
	for range n {
		require.ErrorIs(t, receive(t, errs), errClosed)
	}
	require.ErrorIs(t, tu.Acquire(context.Background(), Unit{}, long), errClosed)

	ran := false
	require.False(t, tu.Drain(func() { ran = true }), "the turn is held")
	require.False(t, ran)
	tu.Release()
	require.True(t, ran, "the holder ran what Drain left once it freed the turn")
	require.True(t, tu.Drain(func() { t.Fatal("not kept when free") }))
}

// batchLog is a Batch that keeps a batch open while the head of the queue is batchable.
type batchLog struct {
	open  bool
	asked []Unit
	ended int
}

func (b *batchLog) Ends(next Unit, waiting bool) bool {
	if waiting {
		b.asked = append(b.asked, next)
	}
	return b.open && !(waiting && next.Batchable)
}

func (b *batchLog) End() {
	b.open = false
	b.ended++
}

// TestABatchEndsBeforeAHandOverItCannotSpan checks that the holder's batch stays open
// across a hand-over to a batchable unit, and is ended before the turn passes to one that
// is not, or is freed.
func TestABatchEndsBeforeAHandOverItCannotSpan(t *testing.T) {
	b := &batchLog{}
	tu := New(errClosed, b)
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{Batchable: true}, long))
	b.open = true

	next := make(chan int, 2)
	var wg sync.WaitGroup
	for k, unit := range []Unit{{Kind: 1, Batchable: true}, {Kind: 2}} {
		wg.Go(func() {
			assert.NoError(t, tu.Acquire(context.Background(), unit, long))
			next <- b.ended
			tu.Release()
		})
		require.Equal(t, k+1, receive(t, depths))
	}
	require.True(t, tu.NextBatchable())
	tu.Release()
	require.Equal(t, 0, receive(t, next), "the batch stayed open for the batchable unit")
	require.Equal(t, 1, receive(t, next), "it ended before the unit that may not join it")
	wg.Wait()
	require.Equal(t, []Unit{{Kind: 1, Batchable: true}, {Kind: 2}}, b.asked)
	require.False(t, tu.NextBatchable())

	require.NoError(t, tu.Acquire(context.Background(), Unit{}, long))
	b.open = true
	tu.Release()
	require.Equal(t, 2, b.ended, "a batch open when the turn is freed ends")
}

// TestOneHolderAtATimeUnderGivingUp runs many units with random limits and contexts
// against each other and checks that no two ever hold the turn at once, that every unit
// granted the turn releases it, and that the turn ends free with nobody queued.
func TestOneHolderAtATimeUnderGivingUp(t *testing.T) {
	tu := New(errClosed, nil)
	var inside, granted, contextErrors atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.IntN(200))*time.Microsecond)
				limit := time.Duration(r.IntN(300)) * time.Microsecond
				if err := tu.Acquire(ctx, Unit{}, limit); err == nil {
					assert.Equal(t, int64(1), inside.Add(1), "one holder at a time")
					assert.GreaterOrEqual(t, tu.Readied(), int32(0))
					granted.Add(1)
					time.Sleep(time.Duration(r.IntN(20)) * time.Microsecond)
					inside.Add(-1)
					tu.Release()
				} else {
					var le *LimitError
					assert.True(t, errors.As(err, &le) || errors.Is(err, context.DeadlineExceeded), "%v", err)
					if le == nil {
						contextErrors.Add(1)
					}
				}
				cancel()
			}
		})
	}
	wg.Wait()
	s, depth := tu.Stats()
	require.Zero(t, depth)
	_, _, held := tu.Holder()
	require.False(t, held)
	require.Zero(t, tu.Readied(), "the goroutine of every waiter granted the turn ran")
	require.Positive(t, granted.Load())
	// A unit granted the turn as it gave up never ran: it counts in GaveUp, or, when its
	// context ended just after the grant, among the context errors.
	ran := uint64(granted.Load())
	require.GreaterOrEqual(t, s.Units, ran)
	require.LessOrEqual(t, s.Units-ran, s.GaveUp+uint64(contextErrors.Load()))
}

func TestReadiedCountsAGrantUntilItsWaiterRuns(t *testing.T) {
	// On one processor a goroutine made ready to run waits until the running one blocks:
	// the grant is visible between the release and the waiter's first step.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	tu := New(errClosed, nil)
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{}, long))
	require.Zero(t, tu.Readied(), "a unit that found the turn free was granted nothing")
	ran := make(chan int32)
	go func() {
		if assert.NoError(t, tu.Acquire(context.Background(), Unit{}, long)) {
			ran <- tu.Readied()
			tu.Release()
		}
	}()
	require.Equal(t, 1, receive(t, depths))
	tu.Release()
	require.Equal(t, int32(1), tu.Readied(), "granted, and its goroutine has not run yet")
	require.Zero(t, receive(t, ran), "the waiter, running, is no longer counted")
	require.Zero(t, tu.Readied())
}

func TestReadiedDoesNotCountARefusedWaiter(t *testing.T) {
	tu := New(errClosed, nil)
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{}, long))
	refused := make(chan error)
	go func() { refused <- tu.Acquire(context.Background(), Unit{}, long) }()
	require.Equal(t, 1, receive(t, depths))
	tu.Refuse()
	require.ErrorIs(t, receive(t, refused), errClosed)
	require.Zero(t, tu.Readied())
	tu.Release()
	require.Zero(t, tu.Readied())
}
