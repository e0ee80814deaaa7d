package turn

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// slowReport is one call of the function given to ReportWaitsOver.
type slowReport struct {
	prev     Unit
	prevHeld time.Duration
}

// TestGrantedAndGivenUpIsNeitherTimedNorReportedNorNamed: a holder (Kind 9) holds the turn
// for holdFor while B (Kind 2, whose context ends as it is granted) and C (Kind 3) queue.
// B never runs: it is in neither the wait nor the hold distribution, is not reported as a
// long wait, and C's report names the unit that held the turn while C waited (Kind 9, for
// holdFor), not B, which held nothing.
func TestGrantedAndGivenUpIsNeitherTimedNorReportedNorNamed(t *testing.T) {
	const holdFor = 60 * time.Millisecond
	tu := New(errClosed, nil)
	var mu sync.Mutex
	var reports []slowReport
	tu.ReportWaitsOver(10*time.Millisecond, func(_ time.Duration, prev Unit, prevHeld time.Duration) {
		mu.Lock()
		reports = append(reports, slowReport{prev, prevHeld})
		mu.Unlock()
	})
	depths := queued(t, tu)
	require.NoError(t, tu.Acquire(context.Background(), Unit{Kind: 9}, long))

	ctxB := &endedCtx{Context: context.Background()}
	doneB := make(chan error, 1)
	go func() { doneB <- tu.Acquire(ctxB, Unit{Kind: 2}, long) }()
	receive(t, depths)
	doneC := make(chan error, 1)
	go func() { doneC <- tu.Acquire(context.Background(), Unit{Kind: 3}, long) }()
	receive(t, depths)

	time.Sleep(holdFor) // the hold C waits for, not a synchronization
	ctxB.ended.Store(true)
	tu.Release()
	require.ErrorIs(t, receive(t, doneB), context.Canceled)
	require.NoError(t, receive(t, doneC))
	tu.Release()

	s, _ := tu.Stats()
	require.Equal(t, uint64(1), s.GaveUp)
	wait, hold := tu.Times()
	_, waits, _ := wait.Snapshot()
	_, holds, _ := hold.Snapshot()
	require.Equal(t, uint64(2), waits, "the holder's and C's waits; B gave up")
	require.Equal(t, uint64(2), holds, "the holder's and C's holds; B never ran")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reports, 1, "C's long wait alone: B gave up")
	require.Equal(t, uint8(9), reports[0].prev.Kind, "C waited for the unit of Kind 9")
	require.GreaterOrEqual(t, reports[0].prevHeld, holdFor)
}
