package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestScrapeOfABusyPool: a scrape reads figures the driver keeps in memory, and
// must answer while every connection of the pool is in use: that is when the figures are
// wanted. Here the pool is one connection (SetMaxOpenConns(1)), held by a transaction;
// StatsOf asks the pool for a *sql.Conn of its own at each scrape and waits, without a
// limit, until the transaction ends.
func TestScrapeOfABusyPool(t *testing.T) {
	db := knownWorkload(t)
	db.SetMaxOpenConns(1)
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(NewCollector(db, "app"))
	_, err := registry.Gather()
	require.NoError(t, err)

	tx, err := db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec("INSERT INTO t VALUES (99)")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := registry.Gather()
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2 * time.Second):
		require.NoError(t, tx.Rollback())
		<-done
		t.Fatal("the scrape waited for the transaction to give its connection back")
	}
}
