//go:build cgo

package sqliteserial

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// endedCtx is a context whose Err reports Canceled once ended is set, while its Done
// channel never closes: a waiter with it wakes only when it is granted the turn, and then
// finds its context ended, the "granted just as it gave up" path, made deterministic.
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

// TestGrantedAsContextEndsWithBatchOpen: the batch left open for a waiter that
// finds its context ended when granted is committed by it, its own write never runs, and
// it counts in WriterGaveUp.
func TestGrantedAsContextEndsWithBatchOpen(t *testing.T) {
	db, cn := openBatchDB(t, "")
	tx, err := db.Begin()
	require.NoError(t, err)
	_, err = tx.Exec("CREATE TABLE holder(x)")
	require.NoError(t, err)
	depths := queued(t, cn)
	ctx := &endedCtx{Context: context.Background()}
	hErr, wErr := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := db.ExecContext(context.Background(), "INSERT INTO t(v) VALUES ('h')")
		hErr <- err
	}()
	require.Equal(t, 1, receive(t, depths))
	go func() {
		_, err := db.ExecContext(ctx, "INSERT INTO t(v) VALUES ('w')")
		wErr <- err
	}()
	require.Equal(t, 2, receive(t, depths))
	ctx.ended.Store(true)
	require.NoError(t, tx.Commit())
	require.NoError(t, receive(t, hErr), "h's write, in the batch left open for w, is committed")
	err = receive(t, wErr)
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Equal(t, []string{"h"}, valuesOf(t, db))
	s := cn.Stats()
	t.Logf("%+v", s)
	require.Equal(t, "", s.WriterHeldBy)
	require.Equal(t, uint64(1), s.Batches)
	require.Equal(t, uint64(1), s.WriterGaveUp, "w gave up: its context ended, it never ran")
}
