//go:build cgo

package sqliteserial

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlite-serial/sqlite-serial/internal/route"
)

// TestStatsCountAKnownWorkload runs a known sequence of statements and checks every count
// Stats reports.
func TestStatsCountAKnownWorkload(t *testing.T) {
	db, cn := openConnector(t, &Config{DSN: t.TempDir() + "/s.db", Readers: 2})
	events := queued(t, cn)
	require.Equal(t, Stats{}, zeroDurations(cn.Stats()), "nothing ran yet")

	mustExec(t, db, "CREATE TABLE t(v INTEGER)") // writer 1, unit 1
	for i := range 10 {
		_, err := db.Exec("INSERT INTO t VALUES (?)", i) // writer 2..11, units 2..11
		require.NoError(t, err)
	}
	for range 5 {
		queryInt(t, db, "SELECT count(*) FROM t") // reader 1..5, acquisitions 1..5
	}
	tx, err := db.Begin() // pinned 1, unit 12
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t VALUES (100)")                     // pinned 2
	queryInt(t, tx, "SELECT count(*) FROM t")                         // pinned 3
	require.NoError(t, tx.Commit())                                   // not a statement the router sees
	ro, err := db.BeginTx(background, &sql.TxOptions{ReadOnly: true}) // pinned 4, acquisition 6
	require.NoError(t, err)
	queryInt(t, ro, "SELECT count(*) FROM t") // pinned 5
	queryInt(t, ro, "SELECT max(v) FROM t")   // pinned 6
	require.NoError(t, ro.Commit())
	cn.router.remember("INSERT INTO t VALUES (200)", &route.Classification{Route: route.Reader, Known: true})
	mustExec(t, db, "INSERT INTO t VALUES (200)") // reader 6, acquisition 7, retried 1, unit 13

	hold, err := db.Begin() // pinned 7, unit 14
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO t VALUES (300)") // writer 12, unit 15, waits
		done <- err
	}()
	require.Equal(t, 1, receive(t, events))
	require.Equal(t, 1, cn.Stats().WriterQueueDepth)
	require.NoError(t, hold.Rollback())
	require.NoError(t, receive(t, done))

	s := cn.Stats()
	require.Equal(t, Stats{
		WriterUnits:        15,
		WriterWaits:        1,
		ReadRoutes:         6,
		WriteRoutes:        12,
		PinnedRoutes:       7,
		RetriedRoutes:      1,
		ReadersOpen:        1,
		ReadersMaxInUse:    1,
		ReadersOpened:      1,
		ReaderAcquisitions: 7,
	}, zeroDurations(s))
	require.Positive(t, s.WriterWaitMax)
	require.Equal(t, s.WriterWaitMax, s.WriterWaitTotal, "one wait")
	require.Positive(t, s.WriterHoldMax)
	require.GreaterOrEqual(t, s.WriterHoldTotal, s.WriterHoldMax)
	require.GreaterOrEqual(t, s.WriterHoldMax, s.WriterWaitMax, "the waiter waited while the transaction held the writer")
}

// zeroDurations returns s without its durations, which a test cannot know exactly.
func zeroDurations(s Stats) Stats {
	s.WriterWaitTotal, s.WriterWaitMax, s.WriterHoldTotal, s.WriterHoldMax = 0, 0, 0, 0
	// The distributions are checked by TestStatsHistograms.
	s.WriterWaitTimes, s.WriterHoldTimes, s.ReaderWaitTimes, s.BatchSizes = Histogram{}, Histogram{}, Histogram{}, Histogram{}
	return s
}
