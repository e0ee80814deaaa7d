package metrics

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"

	sqliteserial "github.com/sqlite-serial/sqlite-serial"
)

// collector is the prometheus.Collector of one database.
type collector struct {
	db     *sql.DB
	descs  []*prometheus.Desc // by figure
	routes *prometheus.Desc
	failed *prometheus.Desc
}

// NewCollector returns a prometheus.Collector of the figures of db, which must have been
// opened with sqlite-serial (or a wrapper of it), in the style of client_golang's
// collectors.NewDBStatsCollector: every metric is named sqlite_serial_*, carries the
// label db_name with dbName, and is read from sqliteserial.StatsOf(db) at each scrape.
// Times are in seconds; the wait and hold times and the writes per group commit are
// Prometheus histograms over the driver's fixed buckets. A scrape that cannot read the
// figures (db closed) fails with the error, which the registry's Gather returns.
func NewCollector(db *sql.DB, dbName string) prometheus.Collector {
	labels := prometheus.Labels{"db_name": dbName}
	c := &collector{db: db}
	for _, f := range figures {
		c.descs = append(c.descs, prometheus.NewDesc("sqlite_serial_"+f.name, f.help, nil, labels))
	}
	c.routes = prometheus.NewDesc("sqlite_serial_routes_total",
		"Statements by where they went: reader (they only read), writer (by what they are), pinned (where their session was bound), retried (refused by a reader, run again on the writer; also counted under reader).",
		[]string{"route"}, labels)
	c.failed = prometheus.NewDesc("sqlite_serial_stats_error", "The figures could not be read.", nil, labels)
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.routes
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s, err := sqliteserial.StatsOf(c.db)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.failed, err)
		return
	}
	for i, f := range figures {
		switch f.kind {
		case counter:
			ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, f.value(&s))
		case gauge:
			ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.GaugeValue, f.value(&s))
		case histogram:
			h := f.hist(&s)
			ch <- prometheus.MustNewConstHistogram(c.descs[i], h.Count, h.Sum, cumulative(h))
		}
	}
	for _, r := range routes {
		ch <- prometheus.MustNewConstMetric(c.routes, prometheus.CounterValue, float64(r.value(&s)), r.route)
	}
}
