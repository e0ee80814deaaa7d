//go:build cgo

package sqliteserial

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// blockingLog is a slog.Handler whose Handle blocks until release is closed, as a handler
// writing to a full pipe or a slow network sink does; entered receives each record.
type blockingLog struct {
	entered chan string
	release chan struct{}
	once    sync.Once
}

func (h *blockingLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *blockingLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *blockingLog) WithGroup(string) slog.Handler            { return h }
func (h *blockingLog) Handle(_ context.Context, r slog.Record) error {
	h.entered <- r.Message
	<-h.release
	return nil
}

// TestALoggerNeverHoldsTheWriter checks that a log handler that takes long (here: blocks
// until released) never keeps the writer's turn from the next writes: the record of a long
// wait is logged once the unit that waited gave the writer back.
func TestALoggerNeverHoldsTheWriter(t *testing.T) {
	h := &blockingLog{entered: make(chan string, 16), release: make(chan struct{})}
	defer h.once.Do(func() { close(h.release) })
	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "b.db"), Logger: slog.New(h),
		LogWaitsOver: 20 * time.Millisecond, WriteWait: 300 * time.Millisecond})
	mustExec(t, db, "CREATE TABLE t(v)")
	depths := queued(t, cn)

	tx, err := db.Begin()
	require.NoError(t, err)
	mustExec(t, tx, "INSERT INTO t(v) VALUES (1)")
	waited := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO t(v) VALUES (2)")
		waited <- err
	}()
	receive(t, depths)
	time.Sleep(50 * time.Millisecond) // past LogWaitsOver
	require.NoError(t, tx.Commit())
	require.Equal(t, "sqlite-serial: a unit of work waited for the writer", receive(t, h.entered))

	// The handler is still busy with the record: another write must get the writer.
	_, err = db.ExecContext(context.Background(), "INSERT INTO t(v) VALUES (3)")
	h.once.Do(func() { close(h.release) })
	require.NoError(t, receive(t, waited))
	require.NoError(t, err, "a write waited for the logger's handler")
}

// TestEveryLongWaitNamesTheTransaction checks that each of three writes queued behind a
// transaction that holds the writer for 150ms gets a record naming the transaction and how
// long it held the writer, not the write queued before it, which held it for about
// nothing.
func TestEveryLongWaitNamesTheTransaction(t *testing.T) {
	const hold = 150 * time.Millisecond
	log := &recordedLog{}
	db, cn := openConnector(t, &Config{DSN: filepath.Join(t.TempDir(), "n.db"), Logger: slog.New(log), LogWaitsOver: 50 * time.Millisecond})
	mustExec(t, db, "CREATE TABLE t(v)")
	writeBehindTx(t, db, cn, hold, 3)
	waits := log.with("sqlite-serial: a unit of work waited for the writer")
	require.Len(t, waits, 3)
	for i, w := range waits {
		require.GreaterOrEqual(t, w["waited"].Duration(), hold)
		require.Equal(t, "a transaction", w["held_by"].String(), "record %d: %v", i, w["summary"])
		require.GreaterOrEqual(t, w["held_for"].Duration(), hold, "record %d", i)
	}
}

// TestClippedStatementIsValidUTF8 checks that the statement text of a time-limit record,
// cut at 200 bytes, is cut between characters, so the record carries valid UTF-8.
func TestClippedStatementIsValidUTF8(t *testing.T) {
	query := "SELECT 'x" + strings.Repeat("é", 150) + "'"
	require.True(t, utf8.ValidString(query))
	got := clipped(query)
	require.True(t, utf8.ValidString(got), "clipped %q", got[len(got)-8:])
	require.LessOrEqual(t, len(got), logStatementLimit+len("..."))
}
