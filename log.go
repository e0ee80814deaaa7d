//go:build cgo

package sqliteserial

import (
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/sqlite-serial/sqlite-serial/internal/turn"
)

// defaultLogWaitsOver is the wait for the writer past which Config.Logger hears of it.
const defaultLogWaitsOver = time.Second

// logStatementLimit is how much of a statement's text a record carries.
const logStatementLimit = 200

// clipped returns query, cut to logStatementLimit bytes.
func clipped(query string) string {
	if len(query) <= logStatementLimit {
		return query
	}
	n := logStatementLimit
	for n > 0 && !utf8.RuneStart(query[n]) {
		n-- // not inside a character
	}
	return query[:n] + "..."
}

// logTimeLimit records that the statement query was stopped by its time limit.
func (cn *Connector) logTimeLimit(query string) {
	if l := cn.cfg.Logger; l != nil {
		l.Warn("sqlite-serial: a statement was stopped by its time limit",
			slog.Duration("limit", cn.cfg.QueryTimeout), slog.String("statement", clipped(query)))
	}
}

// reportLongWaits makes the writer's turn tell Logger of the waits longer than LogWaitsOver.
func (cn *Connector) reportLongWaits(w *writer) {
	l := cn.cfg.Logger
	if l == nil {
		return
	}
	over := cn.cfg.LogWaitsOver
	if over == 0 {
		over = defaultLogWaitsOver
	}
	// The unit that waited holds the writer when the turn reports its wait: the record is
	// kept until it gives the writer back (see writer.release), so that a handler that
	// takes long never keeps the writer from the next units.
	w.turn.ReportWaitsOver(over, func(waited time.Duration, prev turn.Unit, prevHeld time.Duration) {
		w.records = append(w.records, func() {
			l.Warn("sqlite-serial: a unit of work waited for the writer",
				slog.Duration("waited", waited),
				slog.String("held_by", holdKind(prev.Kind).String()),
				slog.Duration("held_for", prevHeld),
				slog.String("summary", "held by "+holdKind(prev.Kind).String()+" open for "+prevHeld.Round(time.Millisecond).String()))
		})
	})
	w.logger = l
}

// logCheckpoint records a checkpoint of a WAL of size bytes that could not complete, to be
// logged once the holder gives the writer back.
func (w *writer) logCheckpoint(size int64, err error) {
	if w.logger == nil {
		return
	}
	reason := "reads of the driver's outlasted the wait for them"
	retry := "at the next look at the WAL"
	if err == errCheckpointBlocked {
		reason = "a reader outside the driver (another process, such as Litestream, or another *sql.DB) keeps the WAL"
		retry = "after " + w.checkpoint.backoff.String() + ", once the WAL grew"
	} else if err != errCheckpointOutlasted {
		reason = err.Error()
	}
	l := w.logger
	w.records = append(w.records, func() {
		l.Warn("sqlite-serial: a checkpoint could not complete",
			slog.Int64("wal_bytes", size), slog.String("reason", reason), slog.String("retry", retry))
	})
}
