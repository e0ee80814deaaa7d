package sqliteserial

import (
	"database/sql"
	"time"
)

// Stats is a snapshot of one connector's counters. Counts and durations add up from the
// moment the connector opened; queue depth and readers in use are as of the call.
type Stats struct {
	// WriterQueueDepth is how many units of work wait for the writer.
	WriterQueueDepth int
	// WriterUnits counts the units of work that were granted the writer.
	WriterUnits uint64
	// WriterWaits counts the units among them that had to queue first.
	WriterWaits uint64
	// WriterWaitTotal and WriterWaitMax are the time units spent queueing, in all and at most.
	WriterWaitTotal, WriterWaitMax time.Duration
	// WriterHoldTotal and WriterHoldMax are the time units held the writer, in all and at most.
	WriterHoldTotal, WriterHoldMax time.Duration
	// WriterGaveUp counts the units that gave up waiting: their context ended or the
	// write-wait limit passed.
	WriterGaveUp uint64
	// WriterHeldBy is what holds the writer now ("a transaction", "a statement", "a
	// transaction begun in SQL", "a caller of WithWriter"), empty when it is free, and
	// WriterHeldFor since how long. A transaction held for long, with no call running, is
	// one the program left open: it keeps every write waiting until it ends.
	WriterHeldBy  string
	WriterHeldFor time.Duration
	// WriterWaitTimes is the distribution of how long units of work waited for the writer,
	// in seconds (zero for a unit that found it free; a unit that gave up is not in it), and
	// WriterHoldTimes of how long they held it.
	WriterWaitTimes, WriterHoldTimes Histogram
	// ReaderWaitTimes is the distribution of how long reads waited for a reader, in
	// seconds: zero when one was idle, else the time to open one, or to be handed one at
	// _serial_readers_max (a read that gave up or failed is not in it).
	ReaderWaitTimes Histogram
	// BatchSizes is the distribution of the writes per committed group commit.
	BatchSizes Histogram
	// Batches counts the group commits: transactions that took several autocommit writes,
	// a savepoint each, and committed them at once (their COMMIT included when it failed);
	// BatchedWrites counts the writes in them, and BatchMax is the most one took.
	// BatchesRolledBack counts the batches that did not commit, whose writes ran again:
	// SQLite rolled them back on its own (an interrupt, RAISE(ROLLBACK), a full disk), or
	// their COMMIT failed.
	Batches, BatchedWrites uint64
	BatchMax               int
	BatchesRolledBack      uint64
	// Checkpoints counts the checkpoints the writer ran because the WAL passed
	// _serial_wal_limit; CheckpointsIncomplete those among them that readers of older
	// snapshots kept from finishing.
	Checkpoints, CheckpointsIncomplete uint64
	// CheckpointsBlocked counts the incomplete checkpoints that a reader outside the
	// driver kept from finishing, although every read of the driver's that could hold the
	// WAL had ended: another process (Litestream keeps a read open on purpose) or another
	// *sql.DB on the file. After one, the writer tries again only once the WAL has grown by a quarter of
	// _serial_wal_limit (at least 1 MiB) and a while has passed (half a second, doubling
	// after each blocked try up to 30 seconds), and it never waits for that reader.
	CheckpointsBlocked uint64

	// ReadRoutes counts statements sent to a reader because they only read.
	ReadRoutes uint64
	// WriteRoutes counts statements sent to the writer because of what they are: writes,
	// and statements with connection-local meaning.
	WriteRoutes uint64
	// PinnedRoutes counts statements that ran where their session was bound, whatever they
	// are: in a transaction, beside open rows, or after the session left state on the writer.
	PinnedRoutes uint64
	// RetriedRoutes counts statements that were refused as writes on a reader and ran again
	// on the writer. Each is counted under ReadRoutes too.
	RetriedRoutes uint64

	// ReadersOpen and ReadersInUse are the reader connections open and in use.
	ReadersOpen, ReadersInUse int
	// ReadersMaxInUse is the most readers that were in use at once.
	ReadersMaxInUse int
	// ReadersOpened counts reader connections opened, replacements included.
	ReadersOpened uint64
	// ReaderAcquisitions counts the times a reader was handed to a session.
	ReaderAcquisitions uint64
	// ReadersOverflowed counts the readers opened beyond _serial_readers for a read that
	// found every reader in use, as a read nested in a loop over rows does when the outer
	// reads hold every reader. A count that keeps growing says _serial_readers is too small
	// for the program's concurrency.
	ReadersOverflowed uint64
	// ReadsYielded counts the reads that, as they began, yielded their processor to the
	// goroutines of the writer's units whose work the writer's queue waits for: a unit
	// just granted the writer, and the callers of a group commit that just ended, until
	// each has its answer. Under a load of reads that never block, Go would otherwise run
	// such a goroutine, once it waits for a processor, only when it preempts a read, up to
	// 10ms on, and every write queued behind it would wait as long.
	ReadsYielded uint64

	// SessionConnsOpen is the number of sessions that have a connection of their own now;
	// SessionConnsOpened counts those connections ever opened.
	SessionConnsOpen   int
	SessionConnsOpened uint64
}

// Histogram is a distribution over fixed buckets. Bounds are the buckets' upper bounds,
// inclusive and increasing: seconds for times (1, 2 and 5 times each power of ten from 1µs
// to 10s), writes for batch sizes (the powers of two from 1 to 4096). Counts has one entry
// more than Bounds: Counts[i] counts the observations above Bounds[i-1] and at most
// Bounds[i], and the last those above every bound. Count is their total and Sum the sum of
// the observations, in the unit of Bounds. The buckets are updated without a lock, so a
// snapshot taken while observations run may hold one in Count and not yet in Sum.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// StatsOf returns the counters of the connector behind db, which must have been opened with
// this driver.
func StatsOf(db *sql.DB) (Stats, error) {
	cn, err := connectorOf(db)
	if err != nil {
		return Stats{}, err
	}
	return cn.Stats(), nil
}
