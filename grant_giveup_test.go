//go:build cgo

package sqliteserial

import (
	"context"
	"database/sql"
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

// batchLeftOpenForAGiveUp holds the writer with a transaction while one caller queues an
// insert of 'h' into t and another, behind it, one of 'w' whose context ends once it is
// granted the writer; it commits the transaction and returns both callers' errors. The
// first opens a batch left open for the second, which never runs and commits the batch.
func batchLeftOpenForAGiveUp(t *testing.T, db *sql.DB, cn *Connector) (hErr, wErr error) {
	t.Helper()
	ctx := &endedCtx{Context: context.Background()}
	errs := queueBehindTxThen(t, db, cn, []func() error{
		func() error {
			_, err := db.ExecContext(context.Background(), "INSERT INTO t(v) VALUES ('h')")
			return err
		},
		func() error {
			_, err := db.ExecContext(ctx, "INSERT INTO t(v) VALUES ('w')")
			return err
		},
	}, func() { ctx.ended.Store(true) }) // w finds its context ended once it is granted the writer
	return errs[0], errs[1]
}

// TestGrantedAsContextEndsWithBatchOpen: the batch left open for a waiter that
// finds its context ended when granted is committed by it, its own write never runs, and
// it counts in WriterGaveUp.
func TestGrantedAsContextEndsWithBatchOpen(t *testing.T) {
	db, cn := openBatchDB(t, "")
	hErr, err := batchLeftOpenForAGiveUp(t, db, cn)
	require.NoError(t, hErr, "h's write, in the batch left open for w, is committed")
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Equal(t, []string{"h"}, valuesOf(t, db))
	s := cn.Stats()
	t.Logf("%+v", s)
	require.Equal(t, "", s.WriterHeldBy)
	require.Equal(t, uint64(1), s.Batches)
	require.Equal(t, uint64(1), s.WriterGaveUp, "w gave up: its context ended, it never ran")
}
