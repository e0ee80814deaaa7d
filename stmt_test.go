//go:build cgo

package sqliteserial

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStatementCloseDoesNotWaitForAnotherSession checks that closing a prepared statement
// does not wait for a statement another session is running on a reader the prepared one
// ran on: the driver finalizes it later, when that reader's next user prepares a statement
// or the reader closes. Finalizing it at once would wait for the other session's step.
func TestStatementCloseDoesNotWaitForAnotherSession(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	block := func() int64 {
		entered <- struct{}{}
		<-release
		return 1
	}
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/s.db", Readers: 1, Driver: driverWithFunc("block", block)})
	mustExec(t, db, "CREATE TABLE t(v)", "INSERT INTO t VALUES (7)")
	a := session(t, db)
	b := session(t, db)
	released := false
	defer func() { // before b closes, also when the test fails early
		if !released {
			close(release)
		}
	}()

	st, err := a.PrepareContext(background, "SELECT v FROM t")
	require.NoError(t, err)
	var v int64
	require.NoError(t, st.QueryRowContext(background).Scan(&v), "prepared on the only reader")
	require.EqualValues(t, 7, v)

	blocked := make(chan error, 1)
	go func() { blocked <- b.QueryRowContext(background, "SELECT block()").Scan(new(int64)) }()
	receive(t, entered) // the other session is inside a step on the only reader

	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	require.NoError(t, receive(t, closed), "Close returned while the other session's statement runs")
	close(release)
	released = true
	require.NoError(t, receive(t, blocked))

	again, err := a.PrepareContext(background, "SELECT v + 1 FROM t")
	require.NoError(t, err)
	defer again.Close()
	require.NoError(t, again.QueryRowContext(background).Scan(&v))
	require.EqualValues(t, 8, v, "the reader is fine afterwards")
	require.Equal(t, 1, cn.Stats().ReadersOpen)
}

// TestStatementClosedAsItsConnectionCloses replays, step by step, a prepared statement
// closed by one session while the connection it was prepared on is being closed by its
// user: the statement must still be finalized, not left to a connection that is gone.
func TestStatementClosedAsItsConnectionCloses(t *testing.T) {
	_, cn := openConnector(t, &Config{DSN: t.TempDir() + "/d.db"})
	p, err := cn.readers.get(background, false)
	require.NoError(t, err)
	s := &stmt{query: "SELECT 1"}
	h, err := p.prepared(s)
	require.NoError(t, err)

	p.closed.Store(true) // Close has begun: its CompareAndSwap succeeded
	p.dropPrepared(s)    // the statement's session closes it first
	p.closed.Store(false)
	require.NoError(t, p.Close()) // Close goes on
	cn.readers.put(p, true, false)
	require.NoError(t, h.Close(), "finalized, or still finalizable")
}
