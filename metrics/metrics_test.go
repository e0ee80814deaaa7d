package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	sqliteserial "github.com/sqlite-serial/sqlite-serial"
)

// knownWorkload opens a database and runs a known sequence on it: a CREATE TABLE and 10
// autocommit inserts (11 units of work on the writer, 11 writer routes) and 5 reads.
func knownWorkload(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite-serial", filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec("CREATE TABLE t(v INTEGER)")
	require.NoError(t, err)
	for i := range 10 {
		_, err := db.Exec("INSERT INTO t VALUES (?)", i)
		require.NoError(t, err)
	}
	for range 5 {
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
		require.Equal(t, 10, n)
	}
	return db
}

// scrape returns the text exposition of registry, as a Prometheus server reads it.
func scrape(t *testing.T, registry *prometheus.Registry) string {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestPrometheusScrape registers the collector with the real client library's registry and
// scrapes its text exposition after the known workload: the counts are the workload's, the
// histograms are histograms, and every line agrees with sqliteserial.StatsOf.
func TestPrometheusScrape(t *testing.T) {
	db := knownWorkload(t)
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(NewCollector(db, "app"))
	text := scrape(t, registry)

	// StatsOf opens a *sql.Conn of its own for each scrape, which costs nothing on the writer.
	s, err := sqliteserial.StatsOf(db)
	require.NoError(t, err)
	for _, line := range []string{
		`sqlite_serial_writer_units_total{db_name="app"} 11`,
		`sqlite_serial_routes_total{db_name="app",route="writer"} 11`,
		`sqlite_serial_routes_total{db_name="app",route="reader"} 5`,
		`sqlite_serial_writer_queue_depth{db_name="app"} 0`,
		`sqlite_serial_writer_wait_seconds_count{db_name="app"} 11`,
		`sqlite_serial_writer_hold_seconds_count{db_name="app"} 11`,
		`sqlite_serial_writer_wait_seconds_bucket{db_name="app",le="+Inf"} 11`,
		`sqlite_serial_batches_total{db_name="app"} 0`,
		`sqlite_serial_batch_writes_count{db_name="app"} 0`,
		fmt.Sprintf(`sqlite_serial_reader_wait_seconds_count{db_name="app"} %d`, s.ReaderAcquisitions),
		fmt.Sprintf(`sqlite_serial_reader_acquisitions_total{db_name="app"} %d`, s.ReaderAcquisitions),
		fmt.Sprintf(`sqlite_serial_readers_open{db_name="app"} %d`, s.ReadersOpen),
		"# TYPE sqlite_serial_writer_wait_seconds histogram",
		"# TYPE sqlite_serial_writer_units_total counter",
		"# TYPE sqlite_serial_writer_queue_depth gauge",
	} {
		require.Contains(t, text, line+"\n")
	}
	// Every unit found the writer free: every wait is in the first bucket.
	require.Contains(t, text, `sqlite_serial_writer_wait_seconds_bucket{db_name="app",le="1e-06"} 11`+"\n")

	// A closed database fails the scrape with the error.
	require.NoError(t, db.Close())
	_, err = registry.Gather()
	require.ErrorContains(t, err, "database is closed")
}

// TestOpenTelemetryCollection registers the same figures with an OpenTelemetry meter and
// collects them through the SDK's manual reader after the known workload.
func TestOpenTelemetryCollection(t *testing.T) {
	db := knownWorkload(t)
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	reg, err := RegisterOTel(provider.Meter("sqlite-serial"), db, "app")
	require.NoError(t, err)
	defer reg.Unregister()

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					got[m.Name+attrs(p.Attributes.ToSlice())] = p.Value
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[m.Name+attrs(p.Attributes.ToSlice())] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					got[m.Name+attrs(p.Attributes.ToSlice())] = p.Value
				}
			}
		}
	}
	for name, want := range map[string]float64{
		"sqlite_serial.writer.units{db.name=app}":                        11,
		"sqlite_serial.routes{db.name=app,route=writer}":                 11,
		"sqlite_serial.routes{db.name=app,route=reader}":                 5,
		"sqlite_serial.writer.queue.depth{db.name=app}":                  0,
		"sqlite_serial.writer.wait.seconds.count{db.name=app}":           11,
		"sqlite_serial.writer.wait.seconds.bucket{db.name=app,le=+Inf}":  11,
		"sqlite_serial.writer.wait.seconds.bucket{db.name=app,le=1e-06}": 11,
		"sqlite_serial.batches{db.name=app}":                             0,
	} {
		v, ok := got[name]
		require.True(t, ok, "%s is collected; got %v", name, keys(got))
		require.Equal(t, want, v, name)
	}
}

// attrs writes attributes as {k=v,...}, sorted by key as the SDK gives them.
func attrs(kvs []attribute.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func keys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
