package metrics

import (
	sqliteserial "github.com/sqlite-serial/sqlite-serial"
)

// kind is how a figure is exported.
type kind uint8

const (
	counter kind = iota
	gauge
	histogram
)

// figure is one exported figure: its name after the prefix "sqlite_serial_", its help, its
// kind and how to read it from the driver's Stats. A counter or a gauge reads value; a
// histogram reads hist. The routes_total counter has one series per route (labels).
type figure struct {
	name, help string
	kind       kind
	value      func(s *sqliteserial.Stats) float64
	hist       func(s *sqliteserial.Stats) sqliteserial.Histogram
}

// routes are the series of sqlite_serial_routes_total, by the value of its label route.
var routes = []struct {
	route string
	value func(s *sqliteserial.Stats) uint64
}{
	{"reader", func(s *sqliteserial.Stats) uint64 { return s.ReadRoutes }},
	{"writer", func(s *sqliteserial.Stats) uint64 { return s.WriteRoutes }},
	{"pinned", func(s *sqliteserial.Stats) uint64 { return s.PinnedRoutes }},
	{"retried", func(s *sqliteserial.Stats) uint64 { return s.RetriedRoutes }},
}

// figures are the exported figures but routes_total. Times are in seconds.
var figures = []figure{
	{name: "writer_queue_depth", help: "Units of work waiting for the writer.", kind: gauge,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.WriterQueueDepth) }},
	{name: "writer_units_total", help: "Units of work granted the writer.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.WriterUnits) }},
	{name: "writer_queued_units_total", help: "Units of work that queued for the writer before it was granted.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.WriterWaits) }},
	{name: "writer_gave_up_total", help: "Units of work that gave up waiting for the writer (their context ended or _serial_write_wait passed).", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.WriterGaveUp) }},
	{name: "writer_held_seconds", help: "How long the unit of work that holds the writer now has held it; 0 when it is free.", kind: gauge,
		value: func(s *sqliteserial.Stats) float64 { return s.WriterHeldFor.Seconds() }},
	{name: "writer_wait_seconds", help: "How long units of work waited for the writer (0 for one that found it free).", kind: histogram,
		hist: func(s *sqliteserial.Stats) sqliteserial.Histogram { return s.WriterWaitTimes }},
	{name: "writer_hold_seconds", help: "How long units of work held the writer.", kind: histogram,
		hist: func(s *sqliteserial.Stats) sqliteserial.Histogram { return s.WriterHoldTimes }},
	{name: "reader_wait_seconds", help: "How long reads waited for a reader (0 when one was idle; else the time to open one, or to be handed one at _serial_readers_max).", kind: histogram,
		hist: func(s *sqliteserial.Stats) sqliteserial.Histogram { return s.ReaderWaitTimes }},
	{name: "readers_open", help: "Reader connections open.", kind: gauge,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.ReadersOpen) }},
	{name: "readers_in_use", help: "Reader connections in use.", kind: gauge,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.ReadersInUse) }},
	{name: "readers_opened_total", help: "Reader connections opened, replacements included.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.ReadersOpened) }},
	{name: "reader_acquisitions_total", help: "Times a reader was handed to a read.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.ReaderAcquisitions) }},
	{name: "readers_overflowed_total", help: "Readers opened beyond _serial_readers for a read that found every reader in use.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.ReadersOverflowed) }},
	{name: "reads_yielded_total", help: "Reads that let goroutines of the writer's units, ready to run, run first.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.ReadsYielded) }},
	{name: "batches_total", help: "Group commits: transactions that took several autocommit writes.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.Batches) }},
	{name: "batched_writes_total", help: "Writes in group commits.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.BatchedWrites) }},
	{name: "batches_rolled_back_total", help: "Group commits that did not commit, whose writes ran again.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.BatchesRolledBack) }},
	{name: "batch_writes", help: "Writes per committed group commit.", kind: histogram,
		hist: func(s *sqliteserial.Stats) sqliteserial.Histogram { return s.BatchSizes }},
	{name: "checkpoints_total", help: "Checkpoints the writer ran because the WAL neared _serial_wal_limit.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.Checkpoints) }},
	{name: "checkpoints_incomplete_total", help: "Checkpoints that reads kept from finishing.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.CheckpointsIncomplete) }},
	{name: "checkpoints_blocked_total", help: "Incomplete checkpoints that a reader outside the driver (another process, such as Litestream) kept from finishing.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.CheckpointsBlocked) }},
	{name: "session_conns_open", help: "Sessions with a connection of their own now.", kind: gauge,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.SessionConnsOpen) }},
	{name: "session_conns_opened_total", help: "Connections of sessions ever opened.", kind: counter,
		value: func(s *sqliteserial.Stats) float64 { return float64(s.SessionConnsOpened) }},
}

// cumulative returns h's buckets as Prometheus and OpenTelemetry count them: for each bound,
// the observations at most that bound.
func cumulative(h sqliteserial.Histogram) map[float64]uint64 {
	out := make(map[float64]uint64, len(h.Bounds))
	var n uint64
	for i, b := range h.Bounds {
		n += h.Counts[i]
		out[b] = n
	}
	return out
}
