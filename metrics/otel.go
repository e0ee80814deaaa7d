package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	sqliteserial "github.com/sqlite-serial/sqlite-serial"
)

// RegisterOTel registers the figures of db, which must have been opened with sqlite-serial
// (or a wrapper of it), with meter as observable instruments, read from
// sqliteserial.StatsOf(db) at each collection. Each carries the attribute db.name with
// dbName. Counters are observable counters and the rest observable gauges, named as the
// Prometheus metrics of NewCollector with dots (sqlite_serial.writer_units_total becomes
// sqlite_serial.writer.units); OpenTelemetry has no observable histogram, so each histogram
// is three observable counters: <name>.count, <name>.sum, and <name>.bucket with the
// attribute le (the bucket's upper bound; "+Inf" for the last), counted cumulatively as in
// Prometheus. Unregister the returned registration to stop.
func RegisterOTel(meter metric.Meter, db *sql.DB, dbName string) (metric.Registration, error) {
	base := attribute.String("db.name", dbName)
	type observed struct {
		f      figure
		plain  metric.Float64Observable
		count  metric.Int64ObservableCounter
		sum    metric.Float64ObservableCounter
		bucket metric.Int64ObservableCounter
	}
	var all []observed
	var instruments []metric.Observable
	for _, f := range figures {
		o := observed{f: f}
		name := otelName(f.name)
		var err error
		switch f.kind {
		case counter:
			o.plain, err = meter.Float64ObservableCounter(name, metric.WithDescription(f.help))
			instruments = append(instruments, o.plain)
		case gauge:
			o.plain, err = meter.Float64ObservableGauge(name, metric.WithDescription(f.help))
			instruments = append(instruments, o.plain)
		case histogram:
			if o.count, err = meter.Int64ObservableCounter(name+".count", metric.WithDescription(f.help+" Observations.")); err != nil {
				return nil, err
			}
			if o.sum, err = meter.Float64ObservableCounter(name+".sum", metric.WithDescription(f.help+" Sum of the observations.")); err != nil {
				return nil, err
			}
			o.bucket, err = meter.Int64ObservableCounter(name+".bucket", metric.WithDescription(f.help+" Observations at most le."))
			instruments = append(instruments, o.count, o.sum, o.bucket)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite-serial metrics: %s: %w", name, err)
		}
		all = append(all, o)
	}
	routesCounter, err := meter.Int64ObservableCounter("sqlite_serial.routes", metric.WithDescription("Statements by where they went (attribute route)."))
	if err != nil {
		return nil, err
	}
	instruments = append(instruments, routesCounter)
	return meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		s, err := sqliteserial.StatsOf(db)
		if err != nil {
			return err
		}
		at := metric.WithAttributes(base)
		for _, o := range all {
			switch o.f.kind {
			case counter, gauge:
				obs.ObserveFloat64(o.plain, o.f.value(&s), at)
			case histogram:
				h := o.f.hist(&s)
				obs.ObserveInt64(o.count, int64(h.Count), at)
				obs.ObserveFloat64(o.sum, h.Sum, at)
				for le, n := range cumulative(h) {
					obs.ObserveInt64(o.bucket, int64(n), metric.WithAttributes(base, attribute.String("le", strconv.FormatFloat(le, 'g', -1, 64))))
				}
				obs.ObserveInt64(o.bucket, int64(h.Count), metric.WithAttributes(base, attribute.String("le", "+Inf")))
			}
		}
		for _, r := range routes {
			obs.ObserveInt64(routesCounter, int64(r.value(&s)), metric.WithAttributes(base, attribute.String("route", r.route)))
		}
		return nil
	}, instruments...)
}

// otelName is the OpenTelemetry name of the figure named name: sqlite_serial. and name with
// dots, without a _total suffix.
func otelName(name string) string {
	n := []byte("sqlite_serial.")
	trimmed := name
	if len(trimmed) > 6 && trimmed[len(trimmed)-6:] == "_total" {
		trimmed = trimmed[:len(trimmed)-6]
	}
	for i := 0; i < len(trimmed); i++ {
		if trimmed[i] == '_' {
			n = append(n, '.')
		} else {
			n = append(n, trimmed[i])
		}
	}
	return string(n)
}
