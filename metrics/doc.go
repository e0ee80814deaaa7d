// Package metrics exports the figures of a sqlite-serial database (sqliteserial.Stats) to
// Prometheus and to OpenTelemetry: the writer's queue (its depth, the units of work, their
// wait and hold times as histograms), the reader pool, group commits, checkpoints and
// where statements went. It is a module of its own, so that the driver's dependencies stay
// mattn/go-sqlite3 alone.
//
// Every figure is read from sqliteserial.StatsOf at each collection, which works as well
// through a wrapper of the driver (otelsql) as on the driver itself.
package metrics
