//go:build cgo

package sqliteserial

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchEnderWaitsUntilItsCallersRunAgain ends a batch of three whose first two callers
// sleep waiting for it, and holds each of them back as it wakes: the ender returns only once
// both have run again, and until each caller of the batch (the ender's own included) has its
// answer, the writer reports goroutines ready to run and a read that begins yields to them.
func TestBatchEnderWaitsUntilItsCallersRunAgain(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "e.db")})
	require.NoError(t, cn.start())
	w := cn.writer
	asleep, woke, proceed := make(chan struct{}, 2), make(chan struct{}), make(chan struct{})
	w.testHookBatchAsleep = func() { asleep <- struct{}{} }
	w.testHookBatchWoke = func() {
		woke <- struct{}{}
		<-proceed
	}
	ob := &batchOutcome{done: make(chan struct{})}
	first, second, ender := ob.member(), ob.member(), ob.member()
	require.True(t, first && second && ender, "callers told to wait before the batch ended count")

	answered := make(chan struct{}, 2)
	for _, counted := range []bool{first, second} {
		go func() {
			ob.await(w, counted)
			answered <- struct{}{}
		}()
	}
	receive(t, asleep)
	receive(t, asleep)
	require.False(t, w.readyToRun(), "callers asleep wait for the batch, not for a processor")
	yieldsBefore := stats(t, db).ReadsYielded
	queryInt(t, db, "SELECT 1")
	require.Equal(t, yieldsBefore, stats(t, db).ReadsYielded, "nothing of the writer's was ready to run")

	finished := make(chan struct{})
	go func() {
		ob.finish(w)
		close(finished)
	}()
	receive(t, woke)
	receive(t, woke)
	require.True(t, w.readyToRun())
	require.Equal(t, int32(3), w.woken.Load())
	queryInt(t, db, "SELECT 1")
	require.Equal(t, yieldsBefore+1, stats(t, db).ReadsYielded, "a read that began made way for the batch's callers")
	require.False(t, ob.member(), "a caller told to wait for a batch that ended does not count")

	proceed <- struct{}{}
	receive(t, answered)
	select {
	case <-finished:
		t.Fatal("the ender went on while a caller of its batch had not run again")
	default:
	}
	proceed <- struct{}{}
	receive(t, answered)
	receive(t, finished)
	require.Equal(t, int32(1), w.woken.Load(), "the ender's own caller has no answer yet")
	require.True(t, w.readyToRun())

	ob.await(w, ender) // the batch ended: it does not block
	require.Zero(t, w.woken.Load())
	require.False(t, w.readyToRun())
}

// TestBatchesCountEveryWokenCallerOnce runs writes of 6 callers, a third of which fail on
// a UNIQUE constraint, first in rounds queued behind a transaction, so that each round
// forms a batch whatever the number of processors, then from 6 goroutines at once: once
// all are answered, no caller of any batch and no waiter granted the writer is still
// counted as ready to run, every write that reported success is in the table, and no other
// is.
func TestBatchesCountEveryWokenCallerOnce(t *testing.T) {
	db, cn := openBatchDB(t, "")
	const goroutines, rounds, writes = 6, 12, 150
	value := func(g, i int) string {
		if i%3 == 2 {
			return fmt.Sprintf("g%d-%d", g, i-1) // already in the table
		}
		return fmt.Sprintf("g%d-%d", g, i)
	}
	succeeded := make([][]string, goroutines)
	write := func(g, i int) error {
		v := value(g, i)
		_, err := db.Exec("INSERT INTO t(v) VALUES (?)", v)
		if err == nil {
			succeeded[g] = append(succeeded[g], v)
		}
		return err
	}
	for i := range rounds {
		var fns []func() error
		for g := range goroutines {
			fns = append(fns, func() error { return write(g, i) })
		}
		for g, err := range queueBehindTx(t, db, cn, fns) {
			if i%3 == 2 {
				require.ErrorContains(t, err, "UNIQUE constraint failed", "round %d, caller %d", i, g)
			} else {
				require.NoError(t, err, "round %d, caller %d", i, g)
			}
		}
		require.Zero(t, cn.writer.woken.Load(), "round %d", i)
		require.Zero(t, cn.writer.turn.Readied(), "round %d", i)
	}
	require.GreaterOrEqual(t, stats(t, db).Batches, uint64(rounds), "each round formed a batch")

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := rounds; i < writes; i++ {
				if err := write(g, i); err != nil {
					assert.ErrorContains(t, err, "UNIQUE constraint failed")
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, cn.writer.woken.Load())
	require.Zero(t, cn.writer.turn.Readied())
	var all []string
	for _, vs := range succeeded {
		require.Len(t, vs, writes*2/3)
		all = append(all, vs...)
	}
	require.ElementsMatch(t, all, valuesOf(t, db))
}
