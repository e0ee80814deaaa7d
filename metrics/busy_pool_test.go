package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestScrapeOfABusyPool checks that a scrape answers while every connection of the pool
// is in use, which is when the figures are wanted: here the pool is one connection
// (SetMaxOpenConns(1)), held by a transaction, and the figures are read from memory
// without a connection of the pool.
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
