//go:build cgo

package sqliteserial_test

// A differential model checker: random programs of several sessions run, one operation at a
// time from one goroutine, on sqlite-serial (one *sql.DB, one *sql.Conn per session) and on
// plain mattn/go-sqlite3 (one dedicated WAL connection per session, _busy_timeout=0). After
// every operation the two outcomes (values, LastInsertId, RowsAffected, rows, errors with
// their SQLite codes and messages) must agree, and at the end so must the whole database,
// read from a fresh connection. Where the two may legitimately differ, mcAllowed says so,
// with a reason; nothing else may differ.
//
//	go test -race -run TestModelCheck -count=1 .
//	go test -run TestModelCheck -modelcheck.seed=1234 -modelcheck.n=1 -v .      # one program
//	go test -run TestModelCheck -modelcheck.prog=testdata/modelcheck/x.prog -v .
//	go test -run '^$' -fuzz FuzzModelCheck -fuzztime 5m .
//
// TestModelCheck runs the programs kept in testdata/modelcheck/*.prog, then -modelcheck.n
// generated ones (program i has seed -modelcheck.seed+i). A failing program is shrunk:
// operations are removed while it still fails in the same class (what kind of statement,
// in which state of the session, which part of the outcome differs); the report gives the
// seed, the class, the minimal program in the .prog format and its trace. Failures are
// grouped by class; -modelcheck.classes of them are shrunk. To look for other classes past
// known ones, -modelcheck.known lists classes to count but not fail on, and
// -modelcheck.without leaves kinds of operations out of the generator.
//
// The model. Operations run in program order, so the driver must never be asked to wait
// for the writer's turn: the generator (and the replay of a shrunk program, which skips
// operations that cannot run) only issues an operation that needs the writer (a write,
// transaction control, a statement the driver sends to the writer) while no other session
// holds it (a write transaction from BeginTx, a transaction begun in SQL, rows opened while
// holding it). The driver's _serial_write_wait is 2s: an operation that still waits fails
// the program as "driver-blocked".
//
// Snapshots. On plain mattn a session's connection keeps one WAL snapshot while any of its
// statements is running (rows left open) or while a transaction is open. The checker counts
// the commits of the mattn database (versions, through PRAGMA data_version) and pins an
// observer connection at every version some session may still read, so that a read of the
// driver can be checked against "the database as of version v" for every v a correct
// driver may show: never older than what the session's own mattn connection shows, never
// without the session's own committed writes, never with another session's uncommitted
// ones; all the reads of a read-only transaction from one version.

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	_ "github.com/sqlite-serial/sqlite-serial"
)

var (
	mcSeedFlag    = flag.Uint64("modelcheck.seed", 0, "TestModelCheck: seed of the first program (program i has seed+i); 0 for the fixed default")
	mcNFlag       = flag.Int("modelcheck.n", 200, "TestModelCheck: number of programs")
	mcOpsFlag     = flag.Int("modelcheck.ops", 0, "operations per program (0: 30 to 60, chosen by the seed)")
	mcWithoutFlag = flag.String("modelcheck.without", "", "comma-separated operation groups the generator leaves out (dml, returning, upsert, trigger, read, open, local, tx, ro, rawtx, temp, schema, pragma, fail, script), or kinds of operation: exec-returning (RETURNING through Exec), temp-in-tx (temp DDL while holding the writer), ro-write (writes in read-only transactions), ro-local (last_insert_rowid() and changes() in read-only transactions)")
	mcShrinkFlag  = flag.Duration("modelcheck.shrink", 15*time.Second, "time spent shrinking each failure class (0: no shrinking)")
	mcClassesFlag = flag.Int("modelcheck.classes", 4, "TestModelCheck: failure classes shrunk and reported in full")
	mcProgFlag    = flag.String("modelcheck.prog", "", "TestModelCheck: run this program file instead of generated programs")
	mcTraceFlag   = flag.Bool("modelcheck.trace", false, "log every operation of the programs run")
	mcKnownFlag   = flag.String("modelcheck.known", "", "comma-separated failure classes to count but not fail on, to look for others")
)

// mcKnown reports whether sig is one of -modelcheck.known.
func mcKnown(sig string) bool {
	for _, k := range strings.Split(*mcKnownFlag, ",") {
		if k = strings.TrimSpace(k); k != "" && k == sig {
			return true
		}
	}
	return false
}

const (
	mcDefaultSeed = 1
	mcSlots       = 2                // rows a session can keep open at once
	mcWatchdog    = 60 * time.Second // an operation that takes longer panics with the program
)

// mcSchema is the schema both systems start with: a rowid table with a UNIQUE column for
// upserts, a WITHOUT ROWID table, a table whose triggers insert into another table, one
// whose triggers update the same table (recursively with recursive_triggers), a child table
// with a foreign key.
const mcSchema = `
CREATE TABLE t1(id INTEGER PRIMARY KEY, u TEXT UNIQUE, v INTEGER NOT NULL DEFAULT 0);
CREATE TABLE t2(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
CREATE TABLE t3(id INTEGER PRIMARY KEY, v INTEGER);
CREATE TABLE log(id INTEGER PRIMARY KEY, src TEXT, ref INTEGER, v INTEGER);
CREATE TRIGGER t3_ins AFTER INSERT ON t3 BEGIN INSERT INTO log(src, ref, v) VALUES ('t3+', NEW.id, NEW.v); END;
CREATE TRIGGER t3_upd AFTER UPDATE ON t3 BEGIN INSERT INTO log(src, ref, v) VALUES ('t3~', NEW.id, NEW.v); END;
CREATE TABLE t4(id INTEGER PRIMARY KEY, v INTEGER, n INTEGER NOT NULL DEFAULT 0);
CREATE TRIGGER t4_ins AFTER INSERT ON t4 BEGIN UPDATE t4 SET n = n + 1 WHERE id = NEW.id; END;
CREATE TRIGGER t4_upd AFTER UPDATE OF v ON t4 WHEN NEW.v < 3 BEGIN UPDATE t4 SET v = NEW.v + 1, n = n + 1 WHERE id = NEW.id; END;
CREATE TABLE child(id INTEGER PRIMARY KEY, pid INTEGER REFERENCES t1(id), v INTEGER);
INSERT INTO t1(id, u, v) VALUES (1, 'a', 1), (2, 'b', 2);
INSERT INTO t2(k, v) VALUES ('k1', 1);
INSERT INTO t3(id, v) VALUES (1, 10);
INSERT INTO t4(id, v) VALUES (1, 5);
`

// ---------------------------------------------------------------------------------------
// The allowed differences.

// mcDiff describes one difference between the two systems' outcomes of an operation, for
// the entries of mcAllowed to judge.
type mcDiff struct {
	op        mcOp
	a, b      mcRes
	busyB     bool // mattn's outcome has SQLITE_BUSY (any extended code)
	failedB   bool // mattn's outcome has an error
	predicted bool // the model expected mattn to refuse: the session writes from a stale snapshot
	// For reads: the versions of the database whose content gives the driver's outcome
	// (empty when none does, or the read is not a read of the shared database).
	matched []int
	roTx    bool // the read is inside a read-only BeginTx
	// For a write inside a read-only BeginTx: mattn's snapshot is older than BeginTx's (the
	// session had rows open), and exactly one side refused it as read-only while the other
	// found nothing to write.
	roNoOp bool
	snapB  int  // version of mattn's snapshot for the session (-1: latest)
	latest int  // version of the latest commit when the read began
	ownW   bool // the session wrote since its rows were opened
	// staleTempWrite is set for a write to the session's temp table while its mattn
	// connection reads an older snapshot (rows left open) than the latest commit.
	staleTempWrite bool
	// abortedB is set when mattn's rows failed with SQLITE_ABORT_ROLLBACK.
	abortedB bool
}

// mcRowsDiverged reports whether rows of s that are still open on one side have ended on
// the other.
func mcRowsDiverged(s *mcSess) bool {
	for i := range s.slots {
		if sl := &s.slots[i]; sl.open && sl.aEnded != sl.bEnded {
			return true
		}
	}
	return false
}

// mcAllowance is one entry of the table of allowed differences, which is also the README's
// Differences section, entry by entry (TestReadmeDifferencesAreTheCheckersTable). match
// judges a difference of outcomes; entries without match are behaviours of the driver that
// the checker reproduces on the mattn side, or that its programs never meet (their reason
// names the test that shows them).
type mcAllowance struct {
	name   string
	reason string
	match  func(d *mcDiff) bool
	stop   bool // after this difference the two databases differ: the program ends here, unchecked
}

// mcAllowed is the whole table. Nothing else may differ.
var mcAllowed = []mcAllowance{
	{
		name: "stale-write-serialized",
		reason: "plain mattn cannot write from a session whose connection still reads an older WAL " +
			"snapshot (rows left open while another session committed): it fails with " +
			"SQLITE_BUSY_SNAPSHOT, which no busy timeout retries, or with the error the old snapshot " +
			"gives first (\"no such table\" for a table created since); the driver runs the write " +
			"on the writer, serialized (contract 4). From then on the two databases differ, so the " +
			"program stops being compared there (neither the rest of it nor the final contents); " +
			"the generator issues such writes rarely",
		match: func(d *mcDiff) bool { return d.predicted && d.failedB },
		stop:  true,
	},
	{
		name: "fresh-snapshot",
		reason: "a session with rows left open keeps an old snapshot on one mattn connection; the driver " +
			"may read a newer committed state for its other statements (its rows are on another " +
			"connection): never older than mattn's snapshot, never without the session's own " +
			"writes, never another session's uncommitted data",
		match: func(d *mcDiff) bool {
			return !d.roTx && slices.ContainsFunc(d.matched, func(v int) bool { return v > d.snapB })
		},
	},
	{
		name: "fresh-snapshot-temp-write",
		reason: "a write to the session's temp table that reads the main database (INSERT INTO temp ... " +
			"SELECT), by a session with rows left open since before another session's commit: mattn's " +
			"connection reads the rows' old snapshot, the driver the latest commits (fresh-snapshot), so " +
			"what lands in the temp table may differ. From then on the two differ, so the program stops " +
			"being compared there",
		match: func(d *mcDiff) bool { return d.staleTempWrite },
		stop:  true,
	},
	{
		name: "stale-drop",
		reason: "a DROP by a session with rows left open since before another session's commit: mattn's " +
			"connection judges it by the rows' old schema (a table created since is not there, so DROP " +
			"TABLE IF EXISTS does nothing), the driver by the latest one, where dropping it beside the " +
			"open rows fails with SQLITE_LOCKED as on one connection. From then on the two differ, so " +
			"the program stops being compared there",
	},
	{
		name: "diverged-rows",
		reason: "after fresh-snapshot or scan-own-write let the session's rows end on one side where they " +
			"go on on the other, the session's statements under way differ: on one connection a read " +
			"shares the rows' snapshot and a DROP fails with SQLITE_LOCKED while they run. From then on " +
			"the two differ, so the program stops being compared there",
	},
	{
		name: "rollback-abort",
		reason: "rows of a session left open while its transaction changed the schema and rolled back: " +
			"on one mattn connection SQLite aborts them (SQLITE_ABORT_ROLLBACK, \"abort due to " +
			"ROLLBACK\"); the driver's rows, on a reader, go on with the snapshot they began with. " +
			"From then on the two differ, so the program stops being compared there " +
			"(TestDifferenceRowsOutliveASchemaRollback)",
		match: func(d *mcDiff) bool { return d.abortedB && len(d.matched) > 0 },
		stop:  true,
	},
	{
		name: "scan-own-write",
		reason: "rows of a SELECT left open, read after the session itself wrote: on one mattn connection " +
			"the scan may see the write (SQLite leaves it undefined whether a running statement sees " +
			"changes its connection makes), the driver's rows go on with the snapshot they began with",
		match: func(d *mcDiff) bool { return !d.roTx && d.ownW && len(d.matched) > 0 },
	},
	{
		name: "ro-tx-snapshot",
		reason: "BeginTx(ReadOnly) reads one stable snapshot taken at BeginTx (contract 5). When the " +
			"session has rows left open, its mattn connection's transaction goes on with the rows' " +
			"older snapshot; the driver may take the one of BeginTx. Every read of the transaction " +
			"must come from one and the same version between the two; a write in it may then find " +
			"nothing to do on one side (CREATE TABLE IF NOT EXISTS of a table created in between) " +
			"and be refused as read-only on the other, which leaves both databases unchanged",
		match: func(d *mcDiff) bool { return d.roTx && (len(d.matched) > 0 || d.roNoOp) },
	},
	{
		name: "read-only-tx",
		reason: "modelled: mattn ignores TxOptions.ReadOnly; the driver refuses writes in a read-only " +
			"transaction and reads its snapshot at BeginTx (contract 5, README Transactions). The mattn " +
			"side runs PRAGMA query_only = 1 for the life of such a transaction and reads once right " +
			"after its BEGIN, so both refuse writes with SQLITE_READONLY and read the same snapshot",
	},
	{
		name: "temp-in-shared-tx",
		reason: "a temp object that a session without a connection of its own creates inside a " +
			"transaction lives on the shared writer, where no other session may see it; SQLite cannot move " +
			"it to another connection, so the driver drops it when the transaction ends, where mattn's " +
			"connection keeps it. From then on the two differ, so the program stops being compared there",
		stop: true,
	},
	{
		name: "busy-serialized",
		reason: "within one process the driver never returns SQLITE_BUSY (\"database is locked\"): a write " +
			"waits for the writer's turn, in FIFO order, up to _serial_write_wait, where plain mattn fails at " +
			"once or after its busy timeout, and a transaction that reads then writes never fails with " +
			"SQLITE_BUSY_SNAPSHOT (contract 4; the checker's programs never make a session wait; " +
			"TestNoBusyUnderConcurrentWrites and the demo show it)",
	},
	{
		name: "wal",
		reason: "a file database is switched to WAL unless the DSN chooses a journal mode, and stays in WAL " +
			"after the program ends, as WAL is a property of the file (TestDifferenceFileIsSwitchedToWAL, " +
			"TestDifferenceFileStaysInWALAfterClose); without WAL (in-memory, or a journal mode the DSN " +
			"chose) a read waits while a unit of work holds the writer, where mattn's read returns the " +
			"last commit at once or fails with \"database is locked\" " +
			"(TestDifferenceReadsWaitForTheWriterWithoutWAL)",
	},
	{
		name: "shared-cache",
		reason: "cache=shared is ignored: each *sql.DB uses private caches, and an in-memory database is " +
			"private to its *sql.DB (TestDifferenceSharedCacheMemoryIsPrivate)",
	},
	{
		name: "begin-immediate",
		reason: "a BeginTx transaction that may write is BEGIN IMMEDIATE whatever _txlock says (BEGIN " +
			"EXCLUSIVE with _txlock=exclusive), so it reads the latest commits also inside the session's " +
			"open rows; isolation levels that cannot be honoured are refused instead of ignored " +
			"(TestDifferenceTransactionsBeginImmediate, TestDifferenceExclusiveTransactionsAreHonoured, " +
			"TestDifferenceIsolationLevelsAreRefused)",
	},
	{
		name: "total-changes",
		reason: "total_changes() on the shared writer counts the changes of every session that used it " +
			"(TestDifferenceTotalChangesCountsEverySessionOnTheWriter)",
	},
	{
		name: "query-settles",
		reason: "a single INSERT, REPLACE, UPDATE or DELETE sent through Query outside a transaction is " +
			"committed before Query returns and not applied when Query fails; with mattn a context that " +
			"ends inside Query can fail the call and still commit the write (TestCancellationAtEachPoint)",
	},
	{
		name: "raw",
		reason: "sql.Conn.Raw hands the driver's own connection, not a *sqlite3.SQLiteConn; WithWriter " +
			"hands the writer's (TestDifferenceRawHandsTheDriversConnection)",
	},
	{
		name: "probe",
		reason: "the one query text SELECT 0 /* sqlite-serial: connector */ answers the number of the " +
			"driver's connector instead of 0, without SQLite: StatsOf and WithWriter ask it through a " +
			"wrapper of the driver (TestDifferenceProbeAnswersTheConnectorsNumber)",
	},
	{
		name: "exclusive-locking",
		reason: "in exclusive locking mode (_locking_mode=EXCLUSIVE, or PRAGMA locking_mode = EXCLUSIVE " +
			"through the driver) only one connection can use the file: every statement runs on the writer, " +
			"one unit of work at a time, and temp objects and per-session pragma settings made there are " +
			"seen by every session (TestExclusiveLockingModeSharesTheWriter)",
	},
	{
		name: "pragma-broadcast",
		reason: "modelled: a setting of a per-connection pragma made outside a transaction applies to " +
			"every connection of the *sql.DB (contract 6, README Pragmas and Differences); the mattn " +
			"side replays it on the other sessions' connections (after their transaction, if in one)",
	},
}

// mcAllow returns the entry of mcAllowed that allows d, or nil.
func mcAllow(d *mcDiff) *mcAllowance {
	for i := range mcAllowed {
		if a := &mcAllowed[i]; a.match != nil && a.match(d) {
			return a
		}
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// Statement templates.

type mcFlags uint32

const (
	fWrite        mcFlags = 1 << iota // may change the main database: needs the writer; mattn refuses it from a stale snapshot
	fWriter                           // runs on the writer in the driver although it does not change the main database
	fShared                           // a read whose result depends only on the committed main database
	fTempRead                         // a read of the session's temp table
	fTempDDL                          // creates or drops a temp object
	fCreatesTemp                      // creates the session's temp table
	fShadow                           // creates a temp table that shadows a main one
	fBroadcast                        // a setting of a per-connection pragma that the driver broadcasts
	fTxCtl                            // transaction control in SQL
	fBeginsTx                         // begins a transaction when outside one (BEGIN, SAVEPOINT)
	fNoRWTx                           // not inside a BeginTx write transaction
	fNoRO                             // not inside a read-only transaction
	fMaybeUnknown                     // may name a table that does not exist: the driver sends it to the writer
	fReadsT2                          // reads t2, which a temp table may shadow
)

type mcMode uint8

const (
	mExec mcMode = 1 << iota
	mQuery
	mOpen
)

// mcTmpl is one kind of statement; gen renders one instance.
type mcTmpl struct {
	name  string
	group string
	modes mcMode
	f     mcFlags
	ret   string // a RETURNING clause the statement may carry
	gen   func(g *mcGen) string
}

func (t *mcTmpl) has(f mcFlags) bool { return t.f&f != 0 }

var mcTemplates = []*mcTmpl{
	// Writes, autocommit or in transactions, through Exec or Query.
	{name: "t1.ins", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, u, v", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t1(id, u, v) VALUES (%d, '%s', %d)", g.id(), g.u(), g.v())
	}},
	{name: "t1.ins.auto", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, u", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t1(u, v) VALUES ('%s', %d)", g.u(), g.v())
	}},
	{name: "t1.upsert.u", group: "upsert", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, v", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t1(u, v) VALUES ('%s', %d) ON CONFLICT(u) DO UPDATE SET v = v + excluded.v", g.u(), g.v())
	}},
	{name: "t1.upsert.id", group: "upsert", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, u, v", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t1(id, u, v) VALUES (%d, '%s', %d) ON CONFLICT(id) DO UPDATE SET v = excluded.v, u = excluded.u", g.id(), g.u(), g.v())
	}},
	{name: "t1.nothing", group: "upsert", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t1(id, u, v) VALUES (%d, '%s', %d) ON CONFLICT DO NOTHING", g.id(), g.u(), g.v())
	}},
	{name: "t1.ignore", group: "upsert", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, v", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT OR IGNORE INTO t1(id, u, v) VALUES (%d, '%s', %d)", g.id(), g.u(), g.v())
	}},
	{name: "t1.replace", group: "upsert", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, u, v", gen: func(g *mcGen) string {
		return fmt.Sprintf("REPLACE INTO t1(id, u, v) VALUES (%d, '%s', %d)", g.id(), g.u(), g.v())
	}},
	{name: "t1.ins.select", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, u", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT OR IGNORE INTO t1(u, v) SELECT u || '%d', v FROM t1 WHERE id <= %d", g.r.IntN(3), g.id())
	}},
	{name: "t1.or.fail", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT OR FAIL INTO t1(id, u, v) VALUES (%d, '%s', %d), (%d, '%s', %d)", g.id(), g.u(), g.v(), g.id(), g.u(), g.v())
	}},
	{name: "t1.or.rollback", group: "dml", modes: mExec, f: fWrite | fNoRWTx, gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT OR ROLLBACK INTO t1(id, u, v) VALUES (%d, '%s', %d)", g.id(), g.u(), g.v())
	}},
	{name: "t1.update", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, v", gen: func(g *mcGen) string {
		return fmt.Sprintf("UPDATE t1 SET v = v + %d WHERE id %% 2 = %d", 1+g.r.IntN(3), g.r.IntN(2))
	}},
	{name: "t1.update.u", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, u", gen: func(g *mcGen) string {
		return fmt.Sprintf("UPDATE t1 SET u = '%s' WHERE id = %d", g.u(), g.id())
	}},
	{name: "t1.delete", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id", gen: func(g *mcGen) string {
		if g.r.IntN(2) == 0 {
			return fmt.Sprintf("DELETE FROM t1 WHERE id = %d", g.id())
		}
		return fmt.Sprintf("DELETE FROM t1 WHERE v < %d", g.v())
	}},
	{name: "t2.upsert", group: "upsert", modes: mExec | mQuery, f: fWrite, ret: " RETURNING k, v", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t2(k, v) VALUES ('%s', %d) ON CONFLICT(k) DO UPDATE SET v = v + 1", g.k(), g.v())
	}},
	{name: "t2.ins.select", group: "upsert", modes: mExec | mQuery, f: fWrite, ret: " RETURNING k", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t2(k, v) SELECT 'k' || id, v FROM t1 WHERE id <= %d ON CONFLICT(k) DO UPDATE SET v = excluded.v", g.id())
	}},
	{name: "t2.delete", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING k", gen: func(g *mcGen) string {
		return fmt.Sprintf("DELETE FROM t2 WHERE k = '%s'", g.k())
	}},
	{name: "t3.ins", group: "trigger", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, v", gen: func(g *mcGen) string {
		if g.r.IntN(2) == 0 {
			return fmt.Sprintf("INSERT INTO t3(v) VALUES (%d)", g.v())
		}
		return fmt.Sprintf("INSERT INTO t3(id, v) VALUES (%d, %d)", g.id(), g.v())
	}},
	{name: "t3.ins.select", group: "trigger", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t3(v) SELECT v FROM t1 ORDER BY id LIMIT %d", 1+g.r.IntN(3))
	}},
	{name: "t3.update", group: "trigger", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, v", gen: func(g *mcGen) string {
		return fmt.Sprintf("UPDATE t3 SET v = v * 2 WHERE id = %d", g.id())
	}},
	{name: "t4.ins", group: "trigger", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, v, n", gen: func(g *mcGen) string {
		if g.r.IntN(2) == 0 {
			return fmt.Sprintf("INSERT INTO t4(id, v) VALUES (%d, %d) ON CONFLICT(id) DO UPDATE SET v = excluded.v", g.id(), g.v())
		}
		return fmt.Sprintf("INSERT INTO t4(v) VALUES (%d)", g.v())
	}},
	{name: "t4.update", group: "trigger", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, v, n", gen: func(g *mcGen) string {
		return fmt.Sprintf("UPDATE t4 SET v = %d WHERE id = %d", g.v(), g.id())
	}},
	{name: "child.ins", group: "dml", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id, pid", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO child(pid, v) VALUES (%d, %d)", g.id()+g.r.IntN(2)*3, g.v())
	}},
	{name: "log.delete", group: "trigger", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id", gen: func(g *mcGen) string {
		return fmt.Sprintf("DELETE FROM log WHERE id %% 3 = %d", g.r.IntN(3))
	}},
	{name: "script", group: "script", modes: mExec, f: fWrite, gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t3(v) VALUES (%d); UPDATE t1 SET v = v - 1 WHERE id = %d", g.v(), g.id())
	}},

	// Statements that fail.
	{name: "fail.notnull", group: "fail", modes: mExec | mQuery, f: fWrite, ret: " RETURNING id", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO t1(u, v) VALUES ('%s', NULL)", g.u())
	}},
	{name: "fail.syntax", group: "fail", modes: mExec | mQuery, f: fWriter, gen: func(g *mcGen) string {
		return []string{"INSERT INTO t1 VALUES", "SELEC 1", "UPDATE t1 SET WHERE id = 1", "SELECT * FROM t1 WHERE"}[g.r.IntN(4)]
	}},
	{name: "fail.nosuch", group: "fail", modes: mExec | mQuery, f: fWriter | fMaybeUnknown, gen: func(g *mcGen) string {
		return []string{"SELECT * FROM nosuch", "INSERT INTO nosuch(a) VALUES (1)", "SELECT nosuch FROM t1"}[g.r.IntN(3)]
	}},

	// Reads of the shared database.
	{name: "r.t1", group: "read", modes: mQuery | mOpen, f: fShared, gen: func(g *mcGen) string { return "SELECT * FROM t1 ORDER BY id" }},
	{name: "r.t1.v", group: "read", modes: mQuery | mOpen, f: fShared, gen: func(g *mcGen) string {
		return fmt.Sprintf("SELECT id, u, v FROM t1 WHERE v >= %d ORDER BY v, id", g.v())
	}},
	{name: "r.t2", group: "read", modes: mQuery | mOpen, f: fShared | fReadsT2, gen: func(g *mcGen) string { return "SELECT * FROM t2 ORDER BY k" }},
	{name: "r.t3", group: "read", modes: mQuery | mOpen, f: fShared, gen: func(g *mcGen) string { return "SELECT * FROM t3 ORDER BY id" }},
	{name: "r.log", group: "read", modes: mQuery | mOpen, f: fShared, gen: func(g *mcGen) string { return "SELECT * FROM log ORDER BY id" }},
	{name: "r.t4", group: "read", modes: mQuery | mOpen, f: fShared, gen: func(g *mcGen) string { return "SELECT * FROM t4 ORDER BY id" }},
	{name: "r.child", group: "read", modes: mQuery | mOpen, f: fShared, gen: func(g *mcGen) string { return "SELECT * FROM child ORDER BY id" }},
	{name: "r.agg", group: "read", modes: mQuery, f: fShared, gen: func(g *mcGen) string { return "SELECT count(*), total(v), max(id) FROM t1" }},
	{name: "r.join", group: "read", modes: mQuery | mOpen, f: fShared, gen: func(g *mcGen) string {
		return "SELECT t1.id, t1.u, t3.v FROM t1 JOIN t3 ON t3.id = t1.id ORDER BY t1.id"
	}},
	{name: "r.uv", group: "read", modes: mQuery, f: fShared, gen: func(g *mcGen) string { return "PRAGMA user_version" }},
	{name: "r.tinfo", group: "read", modes: mQuery, f: fShared, gen: func(g *mcGen) string {
		return "SELECT name, type FROM pragma_table_info('t1') ORDER BY cid"
	}},
	{name: "r.schema", group: "read", modes: mQuery, f: fShared, gen: func(g *mcGen) string {
		return "SELECT type, name FROM sqlite_schema ORDER BY name"
	}},
	{name: "r.extra", group: "schema", modes: mQuery | mOpen, f: fShared | fMaybeUnknown, gen: func(g *mcGen) string { return "SELECT * FROM extra ORDER BY a" }},

	// Reads of the session's own state: the driver sends them to the writer.
	{name: "l.lastid", group: "local", modes: mQuery | mOpen, f: fWriter, gen: func(g *mcGen) string { return "SELECT last_insert_rowid(), changes()" }},
	{name: "l.changes", group: "local", modes: mQuery, f: fWriter, gen: func(g *mcGen) string { return "SELECT changes()" }},
	{name: "l.pragma", group: "pragma", modes: mQuery, f: fWriter, gen: func(g *mcGen) string {
		return []string{"PRAGMA foreign_keys", "PRAGMA cache_size", "PRAGMA recursive_triggers"}[g.r.IntN(3)]
	}},
	{name: "l.dblist", group: "temp", modes: mQuery, f: fWriter, gen: func(g *mcGen) string {
		return "SELECT name FROM pragma_database_list ORDER BY seq"
	}},

	// Pragma settings.
	{name: "p.set", group: "pragma", modes: mExec, f: fWriter | fBroadcast | fNoRO, gen: func(g *mcGen) string {
		switch g.r.IntN(3) {
		case 0:
			return "PRAGMA foreign_keys = " + []string{"ON", "OFF"}[g.r.IntN(2)]
		case 1:
			return fmt.Sprintf("PRAGMA cache_size = %d", []int{-2000, -1000, 100, 500}[g.r.IntN(4)])
		}
		return "PRAGMA recursive_triggers = " + []string{"ON", "OFF"}[g.r.IntN(2)]
	}},
	{name: "p.uv", group: "pragma", modes: mExec, f: fWrite, gen: func(g *mcGen) string {
		return fmt.Sprintf("PRAGMA user_version = %d", g.r.IntN(5))
	}},

	// Temp tables.
	{name: "tmp.create", group: "temp", modes: mExec, f: fTempDDL | fCreatesTemp | fNoRO, gen: func(g *mcGen) string {
		return "CREATE TEMP TABLE IF NOT EXISTS tmp(a INTEGER PRIMARY KEY, b)"
	}},
	{name: "tmp.shadow", group: "temp", modes: mExec, f: fTempDDL | fShadow | fNoRO, gen: func(g *mcGen) string {
		return "CREATE TEMP TABLE IF NOT EXISTS t2(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID"
	}},
	{name: "tmp.drop", group: "temp", modes: mExec, f: fTempDDL | fNoRO, gen: func(g *mcGen) string { return "DROP TABLE IF EXISTS temp.tmp" }},
	{name: "tmp.ins", group: "temp", modes: mExec | mQuery, f: fWriter, ret: " RETURNING a, b", gen: func(g *mcGen) string {
		if g.r.IntN(2) == 0 {
			return fmt.Sprintf("INSERT INTO tmp(b) VALUES (%d)", g.v())
		}
		return "INSERT INTO temp.tmp(b) SELECT v FROM t1"
	}},
	{name: "tmp.read", group: "temp", modes: mQuery | mOpen, f: fTempRead, gen: func(g *mcGen) string { return "SELECT * FROM tmp ORDER BY a" }},

	// Schema changes.
	{name: "ddl.extra", group: "schema", modes: mExec, f: fWrite, gen: func(g *mcGen) string {
		return "CREATE TABLE IF NOT EXISTS extra(a INTEGER PRIMARY KEY, b TEXT)"
	}},
	{name: "ddl.extra.ins", group: "schema", modes: mExec | mQuery, f: fWrite | fMaybeUnknown, ret: " RETURNING a", gen: func(g *mcGen) string {
		return fmt.Sprintf("INSERT INTO extra(b) VALUES ('%s')", g.u())
	}},
	{name: "ddl.addcol", group: "schema", modes: mExec, f: fWrite, gen: func(g *mcGen) string {
		g.addcol++
		return fmt.Sprintf("ALTER TABLE t1 ADD COLUMN c%d INTEGER DEFAULT %d", g.addcol, g.v())
	}},
	{name: "ddl.index", group: "schema", modes: mExec, f: fWrite, gen: func(g *mcGen) string {
		return []string{"CREATE INDEX IF NOT EXISTS t3_v ON t3(v)", "DROP INDEX IF EXISTS t3_v", "CREATE UNIQUE INDEX IF NOT EXISTS t2_v ON t2(v)", "DROP TABLE IF EXISTS extra"}[g.r.IntN(4)]
	}},

	// Transaction control in SQL.
	{name: "tx.begin", group: "rawtx", modes: mExec, f: fWriter | fTxCtl | fBeginsTx | fNoRO, gen: func(g *mcGen) string {
		return []string{"BEGIN", "BEGIN IMMEDIATE", "BEGIN DEFERRED"}[g.r.IntN(3)]
	}},
	{name: "tx.savepoint", group: "rawtx", modes: mExec, f: fWriter | fTxCtl | fBeginsTx | fNoRO, gen: func(g *mcGen) string {
		return fmt.Sprintf("SAVEPOINT sp%d", 1+g.r.IntN(2))
	}},
	{name: "tx.release", group: "rawtx", modes: mExec, f: fWriter | fTxCtl | fNoRO, gen: func(g *mcGen) string {
		return fmt.Sprintf("RELEASE sp%d", 1+g.r.IntN(2))
	}},
	{name: "tx.rollbackto", group: "rawtx", modes: mExec, f: fWriter | fTxCtl | fNoRO, gen: func(g *mcGen) string {
		return fmt.Sprintf("ROLLBACK TO sp%d", 1+g.r.IntN(2))
	}},
	{name: "tx.commit", group: "rawtx", modes: mExec, f: fWriter | fTxCtl | fNoRWTx | fNoRO, gen: func(g *mcGen) string {
		return []string{"COMMIT", "END"}[g.r.IntN(2)]
	}},
	{name: "tx.rollback", group: "rawtx", modes: mExec, f: fWriter | fTxCtl | fNoRWTx | fNoRO, gen: func(g *mcGen) string { return "ROLLBACK" }},
}

var mcTemplateByName = func() map[string]*mcTmpl {
	m := make(map[string]*mcTmpl, len(mcTemplates))
	for _, t := range mcTemplates {
		m[t.name] = t
	}
	return m
}()

// ---------------------------------------------------------------------------------------
// Operations and programs.

type mcKind uint8

const (
	kExec     mcKind = iota // Exec of the statement
	kQuery                  // Query of the statement, every row read, rows closed
	kOpen                   // Query, first row read, rows kept in a slot of the session
	kNext                   // the next row of a slot
	kRest                   // the rest of a slot's rows, then Close
	kClose                  // Close of a slot's rows
	kBegin                  // BeginTx, default options
	kBeginRO                // BeginTx, ReadOnly
	kCommit                 // Commit of the session's Tx (its rows closed first)
	kRollback               // Rollback of the session's Tx (its rows closed first)
)

var mcKindNames = [...]string{"exec", "query", "open", "next", "rest", "close", "begin", "begin-ro", "commit", "rollback"}

// mcOp is one operation of a program: what session S does.
type mcOp struct {
	S    int
	Kind mcKind
	Slot int
	T    *mcTmpl
	SQL  string
}

func (o mcOp) slotted() bool { return o.Kind >= kOpen && o.Kind <= kClose }

func (o mcOp) String() string {
	k := mcKindNames[o.Kind]
	if o.slotted() {
		k += strconv.Itoa(o.Slot)
	}
	if o.T == nil {
		return fmt.Sprintf("s%d %s", o.S, k)
	}
	return fmt.Sprintf("s%d %s %s %s", o.S, k, o.T.name, o.SQL)
}

// mcProgram is a program: its sessions and operations, in program order.
type mcProgram struct {
	Sessions int
	Ops      []mcOp
}

func (p mcProgram) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sessions %d\n", p.Sessions)
	for _, o := range p.Ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// mcParseProgram reads a program in the form String writes.
func mcParseProgram(text string) (mcProgram, error) {
	var p mcProgram
	sc := bufio.NewScanner(strings.NewReader(text))
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if n, ok := strings.CutPrefix(l, "sessions "); ok {
			v, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || v < 1 {
				return p, fmt.Errorf("line %d: bad session count", line)
			}
			p.Sessions = v
			continue
		}
		f := strings.SplitN(l, " ", 4)
		if len(f) < 2 || !strings.HasPrefix(f[0], "s") {
			return p, fmt.Errorf("line %d: want \"s<N> <kind> [<template> <sql>]\"", line)
		}
		s, err := strconv.Atoi(f[0][1:])
		if err != nil {
			return p, fmt.Errorf("line %d: bad session", line)
		}
		o := mcOp{S: s, Kind: 255}
		k := f[1]
		for i, name := range mcKindNames {
			base, slot, cut := k, "", false
			if kind := mcKind(i); kind >= kOpen && kind <= kClose && len(k) > len(name) && strings.HasPrefix(k, name) {
				base, slot, cut = name, k[len(name):], true
			}
			if base != name {
				continue
			}
			o.Kind = mcKind(i)
			if cut {
				if o.Slot, err = strconv.Atoi(slot); err != nil || o.Slot < 0 || o.Slot >= mcSlots {
					return p, fmt.Errorf("line %d: bad slot", line)
				}
			}
		}
		if o.Kind == 255 {
			return p, fmt.Errorf("line %d: unknown kind %q", line, k)
		}
		if o.Kind == kExec || o.Kind == kQuery || o.Kind == kOpen {
			if len(f) < 4 {
				return p, fmt.Errorf("line %d: want a template and SQL", line)
			}
			if o.T = mcTemplateByName[f[2]]; o.T == nil {
				return p, fmt.Errorf("line %d: unknown template %q", line, f[2])
			}
			o.SQL = f[3]
		}
		p.Ops = append(p.Ops, o)
	}
	if p.Sessions == 0 {
		p.Sessions = 1
		for _, o := range p.Ops {
			p.Sessions = max(p.Sessions, o.S+1)
		}
	}
	return p, sc.Err()
}

// ---------------------------------------------------------------------------------------
// The model of the sessions.

type mcTxKind uint8

const (
	txNone mcTxKind = iota
	txRW            // a BeginTx write transaction
	txRO            // a BeginTx read-only transaction
)

// mcCand is one way a read may come out: its events, and the versions that give them.
type mcCand struct {
	vers []int
	ev   []string
}

func (c mcCand) at(i int) string {
	if i < len(c.ev) {
		return c.ev[i]
	}
	return "after-end"
}

// mcSlotModel is a slot of a session: rows left open.
type mcSlotModel struct {
	open           bool
	t              *mcTmpl
	sql            string
	inTx           bool // opened inside a BeginTx transaction: closed before it ends
	roTx           bool
	holdsW         bool // the driver's rows hold the writer's turn while they are open
	aEnded, bEnded bool
	pos            int  // events of the driver's rows consumed
	bAlive         bool // the driver's rows so far equal mattn's
	cands          []mcCand
	snapB          int
	latest         int
	writes         int // the session's writes when the rows were opened
	// atCommit: the rows were opened in a write transaction after it wrote, so they read
	// what its commit makes a version; their candidates are fixed when it commits, or its
	// ROLLBACK: the results of that version that begin with the events read so far (read,
	// which the driver's rows gave as mattn's did). Rows that hold the writer (holdsW)
	// keep read too: while they are open only the session writes, on the connection they
	// run on, so each version its writes make is a candidate (scan-own-write).
	atCommit bool
	read     []string
	// rolledBack: the rows read writes of their transaction, which then rolled back; what
	// they give from then on is the database after the ROLLBACK past what they read, which
	// no version's results begin with. They are judged against mattn's alone.
	rolledBack bool
}

// mcRO is the snapshot model of a read-only transaction: the versions its reads may come
// from, [lo, hi], narrowed by every read to those that give the driver's outcomes.
type mcRO struct {
	lo, hi int
	bSnap  int // the version mattn's transaction reads
	alive  map[int]bool
}

type mcSess struct {
	tx      mcTxKind
	raw     bool // mattn's connection is in a transaction begun in SQL
	slots   [mcSlots]mcSlotModel
	snapB   int // the version mattn's connection reads while it has rows running (-1: none)
	ownConn bool
	temp    bool // the temp table tmp certainly exists on the session's own connection
	shadow  bool
	writes  int
	// txBase is writes when the session's write transaction began (-1: unknown, the
	// statement that began it may have written): while writes equals it, the transaction
	// has changed nothing and reads the versions an autocommit read may read.
	txBase  int
	pending []string // pragma settings to replay on mattn's connection after its transaction
	txTemp  bool     // a temp object was created in the session's transaction on the shared writer
	ro      mcRO
}

// active counts the session's statements that are running on mattn's connection.
func (s *mcSess) active() int {
	n := 0
	for i := range s.slots {
		if s.slots[i].open && !s.slots[i].bEnded {
			n++
		}
	}
	return n
}

func (s *mcSess) inWriteTx() bool { return s.tx == txRW || s.raw }

func (s *mcSess) holdsWriter() bool {
	if s.inWriteTx() {
		return true
	}
	for i := range s.slots {
		if sl := &s.slots[i]; sl.open && sl.holdsW && !sl.aEnded {
			return true
		}
	}
	return false
}

// needsWriter reports whether t, run by s, needs the writer's turn in the driver.
func (s *mcSess) needsWriter(t *mcTmpl) bool {
	switch {
	case s.tx == txRO:
		return false
	case t.has(fWrite | fWriter | fTxCtl | fTempDDL | fBroadcast | fMaybeUnknown):
		return true
	case t.has(fShared):
		return false
	case t.has(fTempRead):
		return !(s.ownConn && s.temp)
	}
	return true
}

type mcModel struct {
	sess    []*mcSess
	version int
}

func (m *mcModel) heldByOther(i int) bool {
	for j, s := range m.sess {
		if j != i && s.holdsWriter() {
			return true
		}
	}
	return false
}

// stale reports whether session i's mattn connection reads an older version than the
// latest while outside a write transaction: a write of it fails with SQLITE_BUSY_SNAPSHOT.
func (m *mcModel) stale(i int) bool {
	s := m.sess[i]
	return s.tx == txNone && !s.raw && s.active() > 0 && s.snapB < m.version
}

// minNeeded is the oldest version some session may still read, or -1.
func (m *mcModel) minNeeded() int {
	lo := -1
	for _, s := range m.sess {
		v := -1
		switch {
		case s.tx == txRO:
			v = s.ro.lo
		case !s.inWriteTx() && s.active() > 0:
			v = s.snapB
		}
		if v >= 0 && (lo < 0 || v < lo) {
			lo = v
		}
	}
	return lo
}

// applicable reports whether o can run now: it names what exists and cannot make the driver
// wait for the writer. A shrunk program skips operations that are not.
func (m *mcModel) applicable(o mcOp) bool {
	if o.S < 0 || o.S >= len(m.sess) || o.Slot < 0 || o.Slot >= mcSlots {
		return false
	}
	s := m.sess[o.S]
	switch o.Kind {
	case kNext, kRest, kClose:
		return s.slots[o.Slot].open
	case kBegin:
		return s.tx == txNone && !m.heldByOther(o.S) && !m.stale(o.S)
	case kBeginRO:
		return s.tx == txNone
	case kCommit, kRollback:
		return s.tx != txNone
	}
	t := o.T
	if t == nil {
		return false
	}
	switch o.Kind {
	case kExec:
		if t.modes&mExec == 0 {
			return false
		}
	case kQuery:
		if t.modes&mQuery == 0 {
			return false
		}
	case kOpen:
		if t.modes&mOpen == 0 || s.slots[o.Slot].open {
			return false
		}
		// Rows that would take the writer's turn only where the session holds it already
		// (or in a read-only transaction, where nothing takes it).
		if s.tx == txNone && !s.raw && s.needsWriter(t) {
			return false
		}
	}
	if s.tx == txRO && t.has(fNoRO) || s.tx == txRW && t.has(fNoRWTx) {
		return false
	}
	if t.has(fBeginsTx) && !s.inWriteTx() && m.stale(o.S) {
		// mattn's deferred BEGIN would go on reading the stale snapshot inside a write
		// transaction; not generated.
		return false
	}
	if s.needsWriter(t) && m.heldByOther(o.S) {
		return false
	}
	return true
}

// ---------------------------------------------------------------------------------------
// The two systems.

type mcQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type mcHandle struct {
	conn  *sql.Conn
	tx    *sql.Tx
	rows  [mcSlots]*sql.Rows
	ended [mcSlots]bool
	ncols [mcSlots]int
}

func (h *mcHandle) q() mcQuerier {
	if h.tx != nil {
		return h.tx
	}
	return h.conn
}

type mcSys struct {
	name string
	path string
	db   *sql.DB
	h    []*mcHandle

	// mattn only: the data_version probe, pinned observers and their results.
	probe   *sql.Conn
	dataVer int64
	pins    map[int]*sql.Conn
	cache   map[string][]string
}

// mcRes is the outcome of one operation on one system: events compared as text (ev against
// the candidates of a read, tail exactly), and the errors met.
type mcRes struct {
	ev   []string
	tail []string
	errs []error
}

func (r *mcRes) add(e string) { r.ev = append(r.ev, e) }

func (r *mcRes) addErr(prefix string, err error) {
	r.ev = append(r.ev, prefix+" "+mcErrText(err))
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

func (r *mcRes) addTail(prefix string, err error) {
	r.tail = append(r.tail, prefix+" "+mcErrText(err))
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

func (r mcRes) String() string {
	s := strings.Join(r.ev, " | ")
	if len(r.tail) > 0 {
		s += " || " + strings.Join(r.tail, " | ")
	}
	return s
}

func mcErrText(err error) string {
	if err == nil {
		return "<nil>"
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("sqlite(%d/%d) %q", se.Code, se.ExtendedCode, err.Error())
	}
	return fmt.Sprintf("go %q", err.Error())
}

func mcHasCode(r mcRes, code sqlite3.ErrNo) bool {
	return mcHasError(r, func(se sqlite3.Error) bool { return se.Code == code })
}

func mcHasExtended(r mcRes, code sqlite3.ErrNoExtended) bool {
	return mcHasError(r, func(se sqlite3.Error) bool { return se.ExtendedCode == code })
}

// mcHasError reports whether one of r's errors is an sqlite3.Error that is.
func mcHasError(r mcRes, is func(sqlite3.Error) bool) bool {
	return slices.ContainsFunc(r.errs, func(err error) bool {
		var se sqlite3.Error
		return errors.As(err, &se) && is(se)
	})
}

func mcBlocked(r mcRes) bool {
	return slices.ContainsFunc(r.errs, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) })
}

func mcVal(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return "f" + strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return strconv.Quote(v)
	case []byte:
		return fmt.Sprintf("x%q", v)
	case time.Time:
		return "t" + v.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

// mcNextEvent reads the next row of rows as an event; ended reports the end of the rows.
func mcNextEvent(r *mcRes, rows *sql.Rows, ncols int) (ended bool) {
	if !rows.Next() {
		r.addErr("end", rows.Err())
		return true
	}
	vals := make([]any, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		r.addErr("scan", err)
		return false
	}
	parts := make([]string, ncols)
	for i, v := range vals {
		parts[i] = mcVal(v)
	}
	r.add("row " + strings.Join(parts, ","))
	return false
}

// mcReadAll runs query on q and reads every row.
func mcReadAll(q mcQuerier, query string) mcRes {
	var r mcRes
	rows, err := q.QueryContext(context.Background(), query)
	if err != nil {
		r.addErr("qerr", err)
		return r
	}
	cols, err := rows.Columns()
	if err != nil {
		r.addErr("cols", err)
	} else {
		r.add("cols " + strings.Join(cols, ","))
	}
	for !mcNextEvent(&r, rows, len(cols)) {
	}
	r.addTail("close", rows.Close())
	return r
}

func (x *mcSys) exec(s int, query string) mcRes {
	var r mcRes
	res, err := x.h[s].q().ExecContext(context.Background(), query)
	if err != nil {
		r.addErr("err", err)
		return r
	}
	id, err1 := res.LastInsertId()
	n, err2 := res.RowsAffected()
	r.add(fmt.Sprintf("ok id=%d n=%d", id, n))
	if err1 != nil || err2 != nil {
		r.addErr("lastid", err1)
		r.addErr("affected", err2)
	}
	return r
}

func (x *mcSys) open(s, slot int, query string) mcRes {
	var r mcRes
	h := x.h[s]
	rows, err := h.q().QueryContext(context.Background(), query)
	if err != nil {
		r.addErr("qerr", err)
		h.rows[slot], h.ended[slot] = nil, true
		return r
	}
	cols, err := rows.Columns()
	if err != nil {
		r.addErr("cols", err)
	} else {
		r.add("cols " + strings.Join(cols, ","))
	}
	h.rows[slot], h.ncols[slot] = rows, len(cols)
	h.ended[slot] = mcNextEvent(&r, rows, len(cols))
	return r
}

func (x *mcSys) next(s, slot int) mcRes {
	var r mcRes
	h := x.h[s]
	if h.ended[slot] {
		r.add("after-end")
		return r
	}
	h.ended[slot] = mcNextEvent(&r, h.rows[slot], h.ncols[slot])
	return r
}

func (x *mcSys) rest(s, slot int) mcRes {
	var r mcRes
	h := x.h[s]
	for !h.ended[slot] {
		h.ended[slot] = mcNextEvent(&r, h.rows[slot], h.ncols[slot])
	}
	x.closeSlot(&r, s, slot)
	return r
}

func (x *mcSys) closeSlot(r *mcRes, s, slot int) {
	h := x.h[s]
	var err error
	if h.rows[slot] != nil {
		err = h.rows[slot].Close()
	}
	r.addTail(fmt.Sprintf("close%d", slot), err)
	h.rows[slot], h.ended[slot] = nil, false
}

// ---------------------------------------------------------------------------------------
// One run of a program.

type mcFailure struct {
	sig  string // the failure's class, kept while shrinking
	msg  string
	at   int // index of the failing operation among those executed, -1 at the end
	prog mcProgram
}

type mcRun struct {
	tb       testing.TB
	dir      string
	a, b     *mcSys
	m        *mcModel
	executed []mcOp
	trace    []string
	allowed  map[string]int
	stopped  bool // a failure or a stopping allowance ended the comparison
	trunc    bool
	fail     *mcFailure
}

func mcOpenRun(tb testing.TB, dir string, sessions int) (*mcRun, error) {
	w := &mcRun{tb: tb, dir: dir, m: &mcModel{}, allowed: map[string]int{}}
	ctx := context.Background()
	a := &mcSys{name: "driver", path: filepath.Join(dir, "serial.db")}
	b := &mcSys{name: "mattn", path: filepath.Join(dir, "mattn.db"), pins: map[int]*sql.Conn{}, cache: map[string][]string{}}
	w.a, w.b = a, b
	var err error
	if a.db, err = sql.Open("sqlite-serial", a.path+"?_serial_write_wait=2s&_serial_readers=16"); err != nil {
		return w, err
	}
	if b.db, err = sql.Open("sqlite3", b.path+"?_journal_mode=WAL&_busy_timeout=0"); err != nil {
		return w, err
	}
	b.db.SetMaxIdleConns(128)
	for _, x := range []*mcSys{a, b} {
		// The sessions first, then the schema on a connection of its own, so that no
		// session starts with the schema's last_insert_rowid() and changes().
		for range sessions {
			c, err := x.db.Conn(ctx)
			if err != nil {
				return w, fmt.Errorf("%s: session: %w", x.name, err)
			}
			x.h = append(x.h, &mcHandle{conn: c})
		}
		c, err := x.db.Conn(ctx)
		if err != nil {
			return w, fmt.Errorf("%s: schema: %w", x.name, err)
		}
		_, err = c.ExecContext(ctx, mcSchema)
		c.Close()
		if err != nil {
			return w, fmt.Errorf("%s: schema: %w", x.name, err)
		}
	}
	if b.probe, err = b.db.Conn(ctx); err != nil {
		return w, err
	}
	if err := b.probe.QueryRowContext(ctx, "PRAGMA data_version").Scan(&b.dataVer); err != nil {
		return w, err
	}
	for range sessions {
		s := &mcSess{snapB: -1, txBase: -1}
		w.m.sess = append(w.m.sess, s)
	}
	return w, nil
}

func (w *mcRun) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	w.trace = append(w.trace, line)
	if *mcTraceFlag {
		w.tb.Log(line)
	}
}

func (w *mcRun) failf(sig string, format string, args ...any) {
	if w.fail != nil {
		return
	}
	w.fail = &mcFailure{sig: sig, msg: fmt.Sprintf(format, args...), at: len(w.executed) - 1}
	w.stopped = true
}

// autocommit asks mattn's connection of session s whether it is outside a transaction.
func (w *mcRun) autocommit(s int) bool {
	ac := true
	err := w.b.h[s].conn.Raw(func(dc any) error {
		ac = dc.(*sqlite3.SQLiteConn).AutoCommit()
		return nil
	})
	if err != nil {
		w.failf("checker", "probing mattn's connection: %v", err)
	}
	return ac
}

// bumpVersion counts a commit on the mattn database, if there was one.
func (w *mcRun) bumpVersion() bool {
	var dv int64
	if err := w.b.probe.QueryRowContext(context.Background(), "PRAGMA data_version").Scan(&dv); err != nil {
		w.failf("checker", "data_version: %v", err)
		return false
	}
	if dv == w.b.dataVer {
		return false
	}
	w.b.dataVer = dv
	w.m.version++
	return true
}

// pin keeps an observer of the latest version, unless there is one.
func (w *mcRun) pin() {
	v := w.m.version
	if w.b.pins[v] != nil {
		return
	}
	ctx := context.Background()
	c, err := w.b.db.Conn(ctx)
	if err == nil {
		if _, err = c.ExecContext(ctx, "BEGIN"); err == nil {
			var n int
			err = c.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n)
		}
	}
	if err != nil {
		w.failf("checker", "pinning version %d: %v", v, err)
		if c != nil {
			c.Close()
		}
		return
	}
	w.b.pins[v] = c
}

func (w *mcRun) unpin(v int) {
	if c := w.b.pins[v]; c != nil {
		c.ExecContext(context.Background(), "ROLLBACK")
		c.Close()
		delete(w.b.pins, v)
	}
}

// keepPins pins the latest version while some session may read an older one later, and
// lets go of versions no session can read any more.
func (w *mcRun) keepPins() {
	lo := w.m.minNeeded()
	for v := range w.b.pins {
		if lo < 0 || v < lo {
			w.unpin(v)
		}
	}
	if lo >= 0 {
		w.pin()
	}
}

// at returns query's events as of version v, if v is pinned.
func (w *mcRun) at(v int, query string, withTail bool) ([]string, bool) {
	if v == w.m.version {
		w.pin()
	}
	c := w.b.pins[v]
	if c == nil {
		return nil, false
	}
	key := fmt.Sprintf("%d\x00%v\x00%s", v, withTail, query)
	if ev, ok := w.b.cache[key]; ok {
		return ev, true
	}
	r := mcReadAll(c, query)
	ev := r.ev
	if withTail {
		ev = slices.Concat(r.ev, r.tail)
	}
	w.b.cache[key] = ev
	return ev, true
}

// cands returns query's outcomes at every pinned version in [lo, hi] (and in keep, if not
// nil), grouped by outcome.
func (w *mcRun) cands(lo, hi int, keep map[int]bool, query string, withTail bool) []mcCand {
	var out []mcCand
	for v := lo; v <= hi; v++ {
		if keep != nil && !keep[v] {
			continue
		}
		ev, ok := w.at(v, query, withTail)
		if !ok {
			continue
		}
		i := slices.IndexFunc(out, func(c mcCand) bool { return slices.Equal(c.ev, ev) })
		if i < 0 {
			out = append(out, mcCand{ev: ev})
			i = len(out) - 1
		}
		out[i].vers = append(out[i].vers, v)
	}
	return out
}

// withVersion adds to cands, the candidates of rows of query that have given the events
// read, the latest version's results, when they begin with read.
func (w *mcRun) withVersion(cands []mcCand, query string, read []string) []mcCand {
	for _, c := range w.cands(w.m.version, w.m.version, nil, query, false) {
		if !mcBeginsWith(c, read) {
			continue
		}
		if i := slices.IndexFunc(cands, func(x mcCand) bool { return slices.Equal(x.ev, c.ev) }); i >= 0 {
			cands[i].vers = append(cands[i].vers, c.vers...)
		} else {
			cands = append(cands, c)
		}
	}
	return cands
}

// mcBeginsWith reports whether the results of c begin with the events read.
func mcBeginsWith(c mcCand, read []string) bool {
	for i, e := range read {
		if c.at(i) != e {
			return false
		}
	}
	return true
}

// eligible reports whether a read of t by s may be checked against versions of the shared
// database.
func (s *mcSess) eligible(t *mcTmpl) bool {
	return t != nil && t.has(fShared) && !(s.shadow && t.has(fReadsT2))
}

// step runs one operation on both systems and compares the outcomes.
func (w *mcRun) step(o mcOp) {
	if w.stopped || !w.m.applicable(o) {
		return
	}
	w.executed = append(w.executed, o)
	idx := len(w.executed) - 1
	m := w.m
	s := m.sess[o.S]
	wasAuto := s.tx == txNone && !s.raw
	wasFree := wasAuto && !s.holdsWriter() // the statement does not run where the session holds the writer
	predicted := o.T != nil && o.T.has(fWrite) && m.stale(o.S)
	activeBefore := s.active()

	// The candidates of rows opened now are fixed now.
	var sl *mcSlotModel
	if o.Kind == kOpen {
		sl = &s.slots[o.Slot]
		*sl = mcSlotModel{open: true, t: o.T, sql: o.SQL, inTx: s.tx != txNone, roTx: s.tx == txRO,
			holdsW: s.tx != txRO && (s.holdsWriter() || s.needsWriter(o.T)), bAlive: true,
			snapB: s.snapB, latest: m.version, writes: s.writes}
		if s.eligible(o.T) {
			switch {
			case s.tx == txRO:
				sl.cands = w.cands(s.ro.lo, s.ro.hi, s.ro.alive, o.SQL, false)
				sl.bAlive = false // mattn's snapshot is not the reference in a read-only transaction
			case !s.inWriteTx() || s.writes == s.txBase:
				lo := m.version
				if activeBefore > 0 {
					lo = s.snapB
				}
				sl.cands = w.cands(lo, m.version, nil, o.SQL, false)
			default:
				sl.atCommit = true
			}
		}
	} else if o.slotted() {
		sl = &s.slots[o.Slot]
	}

	watchdog := time.AfterFunc(mcWatchdog, func() {
		panic(fmt.Sprintf("modelcheck: operation %d (%v) has run for %v\nprogram so far:\n%s", idx, o, mcWatchdog,
			mcProgram{Sessions: len(m.sess), Ops: w.executed}))
	})
	ra := w.run(w.a, o, s)
	rb := w.run(w.b, o, s)
	watchdog.Stop()
	w.logf("#%d %v\n    driver: %v\n    mattn:  %v", idx, o, ra, rb)

	w.compare(o, s, sl, ra, rb, predicted)
	if w.stopped {
		return
	}
	w.update(o, s, sl, rb, wasAuto, wasFree, activeBefore)
}

// run runs o on one system.
func (w *mcRun) run(x *mcSys, o mcOp, s *mcSess) mcRes {
	ctx := context.Background()
	h := x.h[o.S]
	switch o.Kind {
	case kExec:
		return x.exec(o.S, o.SQL)
	case kQuery:
		return mcReadAll(h.q(), o.SQL)
	case kOpen:
		return x.open(o.S, o.Slot, o.SQL)
	case kNext:
		return x.next(o.S, o.Slot)
	case kRest:
		return x.rest(o.S, o.Slot)
	case kClose:
		var r mcRes
		x.closeSlot(&r, o.S, o.Slot)
		return r
	case kBegin, kBeginRO:
		var r mcRes
		tx, err := h.conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: o.Kind == kBeginRO})
		r.addErr("begin", err)
		if err == nil {
			h.tx = tx
			if x == w.b && o.Kind == kBeginRO {
				// read-only-tx: mattn ignores ReadOnly; make its transaction query-only and
				// read once, so that its snapshot is BeginTx's.
				var n int
				if _, err := tx.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
					w.failf("checker", "query_only: %v", err)
				} else if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
					w.failf("checker", "reading at BeginTx: %v", err)
				}
			}
		}
		return r
	case kCommit, kRollback:
		var r mcRes
		for i := range s.slots {
			if s.slots[i].open && s.slots[i].inTx {
				x.closeSlot(&r, o.S, i)
			}
		}
		var err error
		if h.tx == nil {
			err = errors.New("no transaction")
		} else if o.Kind == kCommit {
			err = h.tx.Commit()
		} else {
			err = h.tx.Rollback()
		}
		r.addErr(mcKindNames[o.Kind], err)
		h.tx = nil
		if x == w.b && s.tx == txRO {
			if _, err := h.conn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
				w.failf("checker", "query_only: %v", err)
			}
		}
		return r
	}
	panic("unknown operation kind")
}

// compare compares the outcomes of o and stops the run at a difference that no entry of
// mcAllowed allows.
func (w *mcRun) compare(o mcOp, s *mcSess, sl *mcSlotModel, ra, rb mcRes, predicted bool) {
	name := mcKindNames[o.Kind]
	if o.T != nil {
		name += " " + o.T.name
	} else if sl != nil && sl.t != nil {
		name += " " + sl.t.name
	}
	if mcBlocked(ra) {
		w.failf("driver-blocked/"+name, "the driver waited (the model says no other session holds the writer's turn): %v", ra)
		return
	}
	// A write into the session's temp table (tmp, or a t2 that shadows the main one) that
	// reads the main database, by a session whose mattn connection reads an older snapshot:
	// what lands there may differ, now or in what later statements see of it.
	if mcRowsDiverged(s) {
		// An allowed difference (fresh-snapshot, scan-own-write) let the rows of one side
		// end where the other's go on: which statements of the session are under way, and
		// so which snapshot its reads share, differs from here on.
		w.allowed["diverged-rows"]++
		w.logf("    allowed: diverged-rows (the program stops here)")
		w.stopped, w.trunc = true, true
		return
	}
	staleTemp := o.T != nil && w.m.stale(o.S) &&
		(o.T.group == "temp" && o.T.has(fWriter) && !o.T.has(fWrite) || s.shadow && strings.HasPrefix(o.T.name, "t2.") && o.T.has(fWrite))
	if o.T != nil && w.m.stale(o.S) && strings.HasPrefix(o.SQL, "DROP ") && !slices.Equal(ra.ev, rb.ev) {
		w.allowed["stale-drop"]++
		w.logf("    allowed: stale-drop (the program stops here)")
		w.stopped, w.trunc = true, true
		return
	}
	if d := (&mcDiff{op: o, a: ra, b: rb, staleTempWrite: staleTemp}); staleTemp && mcAllow(d) != nil {
		al := mcAllow(d)
		w.allowed[al.name]++
		w.logf("    allowed: %s (the program stops here)", al.name)
		w.stopped, w.trunc = true, true
		return
	}
	if mcHasCode(ra, sqlite3.ErrBusy) && !mcHasCode(rb, sqlite3.ErrBusy) {
		w.failf("driver-busy/"+name, "the driver returned SQLITE_BUSY where mattn did not\n    driver: %v\n    mattn:  %v", ra, rb)
		return
	}
	same := slices.Equal(ra.ev, rb.ev) && slices.Equal(ra.tail, rb.tail)
	busyB := mcHasCode(rb, sqlite3.ErrBusy)
	if !same && (busyB || predicted && len(rb.errs) > 0) {
		d := &mcDiff{op: o, a: ra, b: rb, busyB: busyB, predicted: predicted, failedB: len(rb.errs) > 0}
		if al := mcAllow(d); al != nil {
			w.allowed[al.name]++
			w.logf("    allowed: %s (the program stops here)", al.name)
			w.stopped, w.trunc = true, true
			return
		}
		if busyB {
			w.failf("mattn-busy/"+name, "mattn returned SQLITE_BUSY where the model expected none\n    driver: %v\n    mattn:  %v", ra, rb)
			return
		}
	}

	read := o.Kind == kQuery && o.T.has(fShared|fTempRead) || o.slotted() && o.Kind != kClose
	if !read {
		if same {
			return
		}
		if s.tx == txRO && o.T != nil && s.ro.lo < s.ro.hi {
			roA, roB := mcHasCode(ra, sqlite3.ErrReadonly), mcHasCode(rb, sqlite3.ErrReadonly)
			d := &mcDiff{op: o, a: ra, b: rb, roTx: true,
				roNoOp: roA && len(rb.errs) == 0 || roB && len(ra.errs) == 0}
			if al := mcAllow(d); al != nil {
				w.allowed[al.name]++
				w.logf("    allowed: %s", al.name)
				return
			}
		}
		w.failf(mcSig(o, s, sl, ra, rb), "the outcomes differ\n    driver: %v\n    mattn:  %v", ra, rb)
		return
	}
	if o.Kind != kQuery {
		// A slot's rows: the rows against the candidates, the Close that ends them exactly.
		if !slices.Equal(ra.tail, rb.tail) {
			w.failf(mcSig(o, s, sl, ra, rb), "the outcomes differ\n    driver: %v\n    mattn:  %v", ra, rb)
			return
		}
		w.matchRows(o, s, sl, ra.ev, rb.ev, ra, rb)
		return
	}

	// Rows read at once: a slot of their own, Close included.
	tmp := mcSlotModel{t: o.T, bAlive: true, snapB: -1, latest: w.m.version, writes: s.writes}
	if !s.inWriteTx() && s.tx == txNone && s.active() > 0 {
		tmp.snapB = s.snapB
	}
	ea, eb := slices.Concat(ra.ev, ra.tail), slices.Concat(rb.ev, rb.tail)
	if s.eligible(o.T) {
		switch {
		case s.tx == txRO:
			tmp.roTx, tmp.bAlive = true, false
			tmp.cands = w.cands(s.ro.lo, s.ro.hi, s.ro.alive, o.SQL, true)
			if ev, ok := w.at(s.ro.bSnap, o.SQL, true); ok && !slices.Equal(ev, eb) {
				w.failf("checker", "mattn's read in its read-only transaction is not version %d's: %v, want %v", s.ro.bSnap, rb, ev)
				return
			}
		case !same && tmp.snapB >= 0:
			tmp.cands = w.cands(s.snapB, w.m.version, nil, o.SQL, true)
			if ev, ok := w.at(s.snapB, o.SQL, true); ok && !slices.Equal(ev, eb) {
				w.failf("checker", "mattn's read is not version %d's: %v, want %v", s.snapB, rb, ev)
				return
			}
		}
	}
	w.matchRows(o, s, &tmp, ea, eb, ra, rb)
}

// mcSig names the class of a difference: what kind of statement, in which state of the
// session, and which part of the outcome differs. Shrinking keeps it.
func mcSig(o mcOp, s *mcSess, sl *mcSlotModel, ra, rb mcRes) string {
	t := o.T
	if t == nil && sl != nil {
		t = sl.t
	}
	what := mcKindNames[o.Kind]
	if t != nil {
		switch {
		case t.has(fWrite):
			what += " write"
		case t.has(fShared):
			what += " read"
		case t.has(fTempRead):
			what += " temp-read"
		case t.has(fTxCtl):
			what += " tx-sql"
		case t.has(fTempDDL):
			what += " temp-ddl"
		case t.has(fBroadcast):
			what += " pragma-set"
		default:
			what += " " + t.group
		}
		if o.T != nil && strings.Contains(o.SQL, "RETURNING") {
			what += "+returning"
		}
	}
	ctx := "autocommit"
	switch {
	case s.tx == txRW:
		ctx = "in-tx"
	case s.tx == txRO:
		ctx = "in-ro-tx"
	case s.raw:
		ctx = "in-sql-tx"
	}
	if s.ownConn {
		ctx += "+own-conn"
	}
	field := "outcome"
	if !slices.Equal(ra.tail, rb.tail) {
		field = "close"
	} else if len(ra.ev) > 0 && len(rb.ev) > 0 {
		var ia, na, ib, nb int64
		_, ea := fmt.Sscanf(ra.ev[0], "ok id=%d n=%d", &ia, &na)
		_, eb := fmt.Sscanf(rb.ev[0], "ok id=%d n=%d", &ib, &nb)
		errA, errB := len(ra.errs) > 0, len(rb.errs) > 0
		switch {
		case ea == nil && eb == nil && ia != ib && na != nb:
			field = "lastinsertid+rowsaffected"
		case ea == nil && eb == nil && ia != ib:
			field = "lastinsertid"
		case ea == nil && eb == nil:
			field = "rowsaffected"
		case errA != errB:
			field = "error-vs-success"
		case errA:
			field = "error"
		default:
			field = "rows"
		}
	}
	return "differ/" + what + "/" + field + "@" + ctx
}

// matchRows checks the driver's next events of rows against mattn's and the candidates.
func (w *mcRun) matchRows(o mcOp, s *mcSess, sl *mcSlotModel, ea, eb []string, ra, rb mcRes) {
	bOK := sl.bAlive && slices.Equal(ea, eb)
	if sl.rolledBack && !bOK && sl.bAlive && s.writes > sl.writes {
		// scan-own-write: on one mattn connection the rows may see the session's writes
		// since they began; the driver's, on the shared writer, not those it made on a
		// connection of its own since.
		w.allowed["scan-own-write"]++
		w.logf("    allowed: scan-own-write (rows of a transaction rolled back; the program stops here)")
		w.stopped, w.trunc = true, true
		return
	}
	var alive []mcCand
	for _, c := range sl.cands {
		ok := true
		for i, e := range ea {
			if c.at(sl.pos+i) != e {
				ok = false
				break
			}
		}
		if ok && sl.roTx && s.tx == txRO {
			c.vers = slices.DeleteFunc(slices.Clone(c.vers), func(v int) bool { return !s.ro.alive[v] })
			ok = len(c.vers) > 0
		}
		if ok {
			alive = append(alive, c)
		}
	}
	sl.cands = alive
	var matched []int
	for _, c := range alive {
		matched = append(matched, c.vers...)
	}
	if sl.roTx && s.tx == txRO && len(matched) > 0 {
		// One stable snapshot: what this read allows narrows the transaction's versions.
		keep := map[int]bool{}
		for _, v := range matched {
			keep[v] = true
		}
		s.ro.alive = keep
	}
	switch {
	case bOK:
	case len(alive) > 0:
		if slices.Equal(ea, eb) {
			break // a read-only transaction's read that equals mattn's and a version's
		}
		d := &mcDiff{op: o, a: ra, b: rb, matched: matched, roTx: sl.roTx, snapB: sl.snapB, latest: sl.latest,
			ownW: s.writes > sl.writes && o.Kind != kQuery, abortedB: mcHasExtended(rb, sqlite3.ErrAbortRollback)}
		if sl.snapB < 0 {
			d.snapB = sl.latest
		}
		al := mcAllow(d)
		if al == nil {
			w.failf(mcSig(o, s, sl, ra, rb), "the driver's rows are a version's (%v) but no allowed difference explains it\n    driver: %v\n    mattn:  %v", matched, ra, rb)
			return
		}
		w.allowed[al.name]++
		if al.stop {
			w.logf("    allowed: %s (versions %v; the program stops here)", al.name, matched)
			w.stopped, w.trunc = true, true
			return
		}
		w.logf("    allowed: %s (versions %v)", al.name, matched)
		sl.bAlive = false
	default:
		var want []string
		for _, c := range sl.cands {
			want = append(want, fmt.Sprint(c.vers))
		}
		extra := ""
		if !sl.bAlive {
			extra = " (mattn's rows were already departed from)"
		}
		w.failf(mcSig(o, s, sl, ra, rb), "the driver's rows are neither mattn's%s nor any version's the session may read (latest %d, session's mattn snapshot %d)\n    driver: %v\n    mattn:  %v",
			extra, w.m.version, sl.snapB, ra, rb)
		return
	}
	sl.bAlive = bOK
	sl.pos += len(ea)
	if (sl.atCommit && sl.cands == nil) || sl.holdsW {
		sl.read = append(sl.read, ea...)
	}
}

// update brings the model up to date after o, from mattn's outcome.
func (w *mcRun) update(o mcOp, s *mcSess, sl *mcSlotModel, rb mcRes, wasAuto, wasFree bool, activeBefore int) {
	m := w.m
	ok := len(rb.errs) == 0
	wasWriteTx := s.inWriteTx()
	switch o.Kind {
	case kOpen, kNext:
		sl.aEnded, sl.bEnded = w.a.h[o.S].ended[o.Slot], w.b.h[o.S].ended[o.Slot]
	case kRest, kClose:
		*sl = mcSlotModel{}
	case kBegin:
		if ok {
			s.tx = txRW
			s.txBase = s.writes
		}
	case kBeginRO:
		if ok {
			s.tx = txRO
			s.ro = mcRO{lo: m.version, hi: m.version, bSnap: m.version, alive: map[int]bool{}}
			if s.active() > 0 {
				s.ro.lo, s.ro.bSnap = s.snapB, s.snapB
			}
			for v := s.ro.lo; v <= s.ro.hi; v++ {
				s.ro.alive[v] = true
			}
		}
	case kCommit, kRollback:
		for i := range s.slots {
			if s.slots[i].inTx {
				s.slots[i] = mcSlotModel{}
			}
		}
		s.tx = txNone
	}
	dml := slices.ContainsFunc([]string{"INSERT ", "REPLACE ", "UPDATE ", "DELETE "}, func(w string) bool { return strings.HasPrefix(o.SQL, w) })
	noChange := o.Kind == kExec && ok && dml && !strings.Contains(o.SQL, "RETURNING") && !strings.Contains(strings.TrimRight(o.SQL, "; "), ";") && len(rb.ev) == 1 && strings.HasPrefix(rb.ev[0], "ok ") && strings.HasSuffix(rb.ev[0], " n=0")
	if o.T != nil && o.T.has(fWrite) && !noChange {
		// Tried: a failing statement may keep some of its changes (OR FAIL). An Exec of an
		// INSERT, REPLACE, UPDATE or DELETE that changed no row directly fired no trigger
		// either, and changed nothing (an Exec
		// of RETURNING reports changes() before its statement finished, a script those of
		// its last statement: neither is judged).
		s.writes++
	}
	if o.T != nil && ok {
		t := o.T
		if t.has(fTempDDL) && !wasAuto && !s.ownConn {
			s.txTemp = true
		}
		if t.has(fTempDDL) {
			if wasFree && t.has(fCreatesTemp|fShadow) {
				s.ownConn = true
				s.temp = s.temp || t.has(fCreatesTemp)
			} else {
				s.temp = false
			}
			if t.has(fShadow) {
				s.shadow = true
			}
		}
		if t.has(fBroadcast) && wasAuto {
			// pragma-broadcast: the driver applies it to every connection.
			for j, other := range m.sess {
				if j == o.S {
					continue
				}
				if other.tx != txNone || other.raw {
					other.pending = append(other.pending, o.SQL)
				} else {
					w.replay(j, o.SQL)
				}
			}
		}
	}
	wasRaw := s.raw
	s.raw = s.tx == txNone && !w.autocommit(o.S)
	if s.raw && !wasRaw {
		s.txBase = s.writes
		if o.T != nil && o.T.has(fWrite) {
			s.txBase = -1
		}
	}
	if s.txTemp && s.tx == txNone && !s.raw && (o.Kind == kCommit || o.Kind == kRollback || wasRaw) {
		// temp-in-shared-tx: the driver drops the temp objects when the transaction ended
		// (once no rows of it are open on the writer); mattn keeps them. The two differ
		// from here on.
		w.allowed["temp-in-shared-tx"]++
		w.logf("    allowed: temp-in-shared-tx (the program stops here)")
		w.stopped, w.trunc = true, true
	}
	changed := w.bumpVersion()
	if changed {
		for i := range s.slots {
			if sl := &s.slots[i]; sl.open && sl.holdsW && !sl.aEnded && sl.cands != nil {
				sl.cands = w.withVersion(sl.cands, sl.sql, sl.read)
			}
		}
	}
	if wasWriteTx && !s.inWriteTx() && ok {
		// The transaction committed, or rolled back (ROLLBACK): its rows read the version
		// it made, or the one it began on.
		for i := range s.slots {
			if sl := &s.slots[i]; sl.open && sl.atCommit && sl.bAlive && sl.cands == nil {
				sl.cands = slices.DeleteFunc(w.cands(m.version, m.version, nil, sl.sql, false), func(c mcCand) bool {
					return !mcBeginsWith(c, sl.read)
				})
				// Rows that read writes of a transaction rolled back match no version.
				sl.rolledBack = len(sl.cands) == 0 && !changed
			}
		}
	}
	switch act := s.active(); {
	case act == 0:
		s.snapB = -1
	case activeBefore == 0 && o.Kind == kOpen:
		s.snapB = m.version
	case changed && !s.inWriteTx() && s.tx == txNone:
		s.snapB = m.version // the session's own commit: its connection reads it
	}
	if s.tx == txNone && !s.raw && len(s.pending) > 0 {
		for _, q := range s.pending {
			w.replay(o.S, q)
		}
		s.pending = nil
	}
	w.keepPins()
}

func (w *mcRun) replay(s int, query string) {
	if _, err := w.b.h[s].conn.ExecContext(context.Background(), query); err != nil {
		w.failf("checker", "replaying %q on session %d: %v", query, s, err)
	}
}

// finish ends the program: every session closes its rows and ends its transaction (as
// compared operations), then both databases are closed and their contents compared.
func (w *mcRun) finish() {
	n := len(w.executed) // the program; what follows is its epilogue, implied
	if !w.stopped {
		var epilogue []mcOp
		for i, s := range w.m.sess {
			for j := range s.slots {
				if s.slots[j].open {
					epilogue = append(epilogue, mcOp{S: i, Kind: kClose, Slot: j})
				}
			}
		}
		for _, o := range epilogue {
			w.step(o)
		}
		for i, s := range w.m.sess {
			switch {
			case s.tx != txNone:
				w.step(mcOp{S: i, Kind: kCommit})
			case s.raw:
				w.step(mcOp{S: i, Kind: kExec, T: mcTemplateByName["tx.commit"], SQL: "COMMIT"})
			}
		}
	}
	compare := !w.stopped
	errA := w.close(w.a)
	w.close(w.b)
	if compare && errA != nil {
		w.failf("driver-close", "closing the driver's *sql.DB: %v", errA)
	}
	if compare && w.fail == nil {
		da, errA := mcDump(w.a.path)
		db, errB := mcDump(w.b.path)
		switch {
		case errA != nil || errB != nil:
			w.failf("checker", "dump: %v / %v", errA, errB)
		case !slices.Equal(da, db):
			only := func(x, y []string) string {
				var out []string
				for _, l := range x {
					if !slices.Contains(y, l) {
						out = append(out, l)
					}
				}
				if len(out) > 8 {
					out = append(out[:8], "...")
				}
				return strings.Join(out, "; ")
			}
			w.failf("final-dump", "the databases differ at the end\n    only in the driver's: %s\n    only in mattn's:      %s", only(da, db), only(db, da))
			w.fail.at = -1
		}
	}
	w.executed = w.executed[:n]
	if w.fail != nil {
		if w.fail.at >= n {
			w.fail.at = -1 // in the epilogue
		}
		w.fail.prog = mcProgram{Sessions: len(w.m.sess), Ops: w.executed}
	}
}

// close closes everything of x, best effort, and returns the error of its *sql.DB's Close.
func (w *mcRun) close(x *mcSys) error {
	if x == nil || x.db == nil {
		return nil
	}
	ctx := context.Background()
	for i, h := range x.h {
		for j := range h.rows {
			if h.rows[j] != nil {
				h.rows[j].Close()
				h.rows[j] = nil
			}
		}
		if h.tx != nil {
			h.tx.Rollback()
			h.tx = nil
		}
		if i < len(w.m.sess) && w.m.sess[i].raw {
			h.conn.ExecContext(ctx, "ROLLBACK")
		}
		h.conn.Close()
	}
	for v := range x.pins {
		w.unpin(v)
	}
	if x.probe != nil {
		x.probe.Close()
	}
	err := x.db.Close()
	x.db = nil
	return err
}

// mcDump reads a database file from a fresh connection: its schema, user_version and
// every table, ordered.
func mcDump(path string) ([]string, error) {
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []string
	add := func(prefix, query string) error {
		r := mcReadAll(db, query)
		if len(r.errs) > 0 {
			return fmt.Errorf("%s: %v", query, r.errs[0])
		}
		for _, e := range r.ev {
			out = append(out, prefix+e)
		}
		return nil
	}
	if err := add("schema ", "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name"); err != nil {
		return nil, err
	}
	if err := add("user_version ", "PRAGMA user_version"); err != nil {
		return nil, err
	}
	if err := add("integrity ", "PRAGMA integrity_check"); err != nil {
		return nil, err
	}
	rows, err := db.Query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return nil, err
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, n)
	}
	rows.Close()
	for _, t := range tables {
		r := mcReadAll(db, fmt.Sprintf("SELECT * FROM %q", t))
		if len(r.errs) > 0 {
			return nil, r.errs[0]
		}
		body := slices.Clone(r.ev)
		slices.Sort(body)
		for _, e := range body {
			out = append(out, t+" "+e)
		}
	}
	return out, nil
}

// ---------------------------------------------------------------------------------------
// Generation.

type mcGen struct {
	r       *rand.Rand
	addcol  int
	without map[string]bool
}

func newMCGen(seed uint64) *mcGen {
	g := &mcGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), without: map[string]bool{}}
	for _, w := range strings.Split(*mcWithoutFlag, ",") {
		if w = strings.TrimSpace(w); w != "" {
			g.without[w] = true
		}
	}
	return g
}

func (g *mcGen) id() int   { return 1 + g.r.IntN(6) }
func (g *mcGen) u() string { return string(rune('a' + g.r.IntN(5))) }
func (g *mcGen) v() int    { return g.r.IntN(13) - 3 }
func (g *mcGen) k() string { return fmt.Sprintf("k%d", 1+g.r.IntN(4)) }

// tmpl picks a template of group (any of groups) that runs in mode.
func (g *mcGen) tmpl(mode mcMode, pred func(*mcTmpl) bool) *mcTmpl {
	var ts []*mcTmpl
	for _, t := range mcTemplates {
		if t.modes&mode != 0 && !g.without[t.group] && pred(t) {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	return ts[g.r.IntN(len(ts))]
}

func (g *mcGen) render(t *mcTmpl) string {
	q := t.gen(g)
	if t.ret != "" && !g.without["returning"] && g.r.IntN(2) == 0 {
		q += t.ret
	}
	return q
}

// pick generates one operation that can run in the state m.
func (g *mcGen) pick(m *mcModel) mcOp {
	for range 400 {
		o, ok := g.try(m)
		if ok && o.T != nil {
			s := m.sess[o.S]
			switch {
			case g.without["exec-returning"] && o.Kind == kExec && strings.Contains(o.SQL, "RETURNING"),
				g.without["temp-in-tx"] && o.T.has(fTempDDL) && (s.holdsWriter() || s.tx != txNone),
				g.without["ro-write"] && s.tx == txRO && !o.T.has(fShared|fTempRead) && o.T.group != "local",
				g.without["ro-local"] && s.tx == txRO && o.T.group == "local":
				ok = false
			}
		}
		if ok && m.applicable(o) {
			// A write from a stale snapshot ends the comparison (stale-write-serialized):
			// issue few.
			if o.T != nil && o.T.has(fWrite) && m.stale(o.S) && g.r.IntN(10) != 0 {
				continue
			}
			return o
		}
	}
	// A read of the shared database is always possible.
	return mcOp{S: 0, Kind: kQuery, T: mcTemplateByName["r.t1"], SQL: "SELECT * FROM t1 ORDER BY id"}
}

func (g *mcGen) try(m *mcModel) (mcOp, bool) {
	si := g.r.IntN(len(m.sess))
	// Sessions that hold the writer get more turns, so that their transactions go on.
	for i, s := range m.sess {
		if s.holdsWriter() && g.r.IntN(3) == 0 {
			si = i
		}
	}
	s := m.sess[si]
	o := mcOp{S: si}
	var openSlots, freeSlots []int
	for i := range s.slots {
		if s.slots[i].open {
			openSlots = append(openSlots, i)
		} else {
			freeSlots = append(freeSlots, i)
		}
	}
	isRead := func(t *mcTmpl) bool { return t.has(fShared | fTempRead) }
	sqlOp := func(kind mcKind, mode mcMode, pred func(*mcTmpl) bool) (mcOp, bool) {
		t := g.tmpl(mode, pred)
		if t == nil {
			return o, false
		}
		o.Kind, o.T, o.SQL = kind, t, g.render(t)
		return o, true
	}
	group := func(names ...string) func(*mcTmpl) bool {
		return func(t *mcTmpl) bool { return slices.Contains(names, t.group) }
	}
	n := g.r.IntN(100)
	switch {
	case n < 22 && len(openSlots) > 0 && !g.without["open"]:
		o.Slot = openSlots[g.r.IntN(len(openSlots))]
		switch k := g.r.IntN(10); {
		case k < 6:
			o.Kind = kNext
		case k < 8:
			o.Kind = kRest
		default:
			o.Kind = kClose
		}
		return o, true
	case n < 30 && len(freeSlots) > 0 && !g.without["open"]:
		o.Slot = freeSlots[g.r.IntN(len(freeSlots))]
		return sqlOp(kOpen, mOpen, func(t *mcTmpl) bool { return true })
	case n < 42:
		return sqlOp(kQuery, mQuery, isRead)
	case n < 60:
		return sqlOp(kExec, mExec, group("dml", "upsert", "trigger", "script"))
	case n < 68:
		return sqlOp(kQuery, mQuery, group("dml", "upsert", "trigger"))
	case n < 74:
		return sqlOp(kQuery, mQuery, group("local"))
	case n < 78:
		return sqlOp(mcKind(g.r.IntN(2)), mExec|mQuery, group("fail"))
	case n < 86:
		if s.tx != txNone {
			if g.r.IntN(3) == 0 {
				o.Kind = kRollback
			} else {
				o.Kind = kCommit
			}
			return o, !g.without["tx"]
		}
		if g.r.IntN(5) < 2 {
			o.Kind = kBeginRO
			return o, !g.without["ro"]
		}
		o.Kind = kBegin
		return o, !g.without["tx"]
	case n < 91:
		if s.raw || s.tx == txRW {
			return sqlOp(kExec, mExec, func(t *mcTmpl) bool { return t.group == "rawtx" && !t.has(fBeginsTx) || t.name == "tx.savepoint" })
		}
		return sqlOp(kExec, mExec, func(t *mcTmpl) bool { return t.group == "rawtx" && (t.has(fBeginsTx) || g.r.IntN(4) == 0) })
	case n < 95:
		return sqlOp(mcKind(g.r.IntN(2)), mExec|mQuery, group("temp"))
	case n < 97:
		return sqlOp(kExec, mExec|mQuery, group("schema"))
	default:
		return sqlOp(mcKind(g.r.IntN(2)), mExec|mQuery, group("pragma"))
	}
}

// ---------------------------------------------------------------------------------------
// Running, shrinking, reporting.

// mcResult is what one run of a program found.
type mcResult struct {
	prog    mcProgram
	fail    *mcFailure
	trunc   bool
	allowed map[string]int
	trace   []string
}

// mcRunProgram runs p (replaying its operations, skipping those that cannot run) or, with
// gen, generates and runs n operations.
func mcRunProgram(tb testing.TB, dir string, p mcProgram, gen *mcGen, n int) mcResult {
	sub, err := os.MkdirTemp(dir, "p")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(sub)
	w, err := mcOpenRun(tb, sub, p.Sessions)
	if err != nil {
		w.close(w.a)
		w.close(w.b)
		tb.Fatalf("modelcheck: opening the databases: %v", err)
	}
	if gen != nil {
		for len(w.executed) < n && !w.stopped {
			w.step(gen.pick(w.m))
		}
	} else {
		for _, o := range p.Ops {
			w.step(o)
		}
	}
	w.finish()
	return mcResult{prog: mcProgram{Sessions: p.Sessions, Ops: w.executed}, fail: w.fail, trunc: w.trunc, allowed: w.allowed, trace: w.trace}
}

// mcGenerate runs the program of seed.
func mcGenerate(tb testing.TB, dir string, seed uint64) mcResult {
	g := newMCGen(seed)
	sessions := 2 + g.r.IntN(2)
	n := 30 + g.r.IntN(31)
	if *mcOpsFlag > 0 {
		n = *mcOpsFlag
	}
	return mcRunProgram(tb, dir, mcProgram{Sessions: sessions}, g, n)
}

// mcShrink removes operations from a failing program while it still fails the same way,
// within budget. It returns the smallest failing result found.
func mcShrink(tb testing.TB, dir string, r mcResult, budget time.Duration) (mcResult, bool) {
	if budget <= 0 || r.fail == nil {
		return r, false
	}
	deadline := time.Now().Add(budget)
	sig := r.fail.sig
	best := r
	// Operations after the failing one never matter.
	if at := best.fail.at; at >= 0 && at+1 < len(best.prog.Ops) {
		best.prog.Ops = best.prog.Ops[:at+1]
	}
	try := func(ops []mcOp) bool {
		res := mcRunProgram(tb, dir, mcProgram{Sessions: best.prog.Sessions, Ops: ops}, nil, 0)
		if res.fail == nil || res.fail.sig != sig {
			return false
		}
		if at := res.fail.at; at >= 0 && at+1 < len(res.prog.Ops) {
			res.prog.Ops = res.prog.Ops[:at+1]
		}
		best = res
		return true
	}
	chunk := len(best.prog.Ops) / 2
	for chunk >= 1 {
		progress := false
		for i := 0; i < len(best.prog.Ops); {
			if time.Now().After(deadline) {
				return best, true
			}
			ops := best.prog.Ops
			end := min(i+chunk, len(ops))
			cand := slices.Concat(ops[:i], ops[end:])
			if len(cand) > 0 && try(cand) {
				progress = true
				continue
			}
			i += chunk
		}
		if !progress {
			chunk /= 2
		}
	}
	// Fewer sessions, numbered in order of appearance, if the program uses fewer.
	ids := map[int]int{}
	var ops []mcOp
	for _, o := range best.prog.Ops {
		if _, ok := ids[o.S]; !ok {
			ids[o.S] = len(ids)
		}
		o.S = ids[o.S]
		ops = append(ops, o)
	}
	if len(ids) < best.prog.Sessions || !slices.Equal(ops, best.prog.Ops) {
		res := mcRunProgram(tb, dir, mcProgram{Sessions: len(ids), Ops: ops}, nil, 0)
		if res.fail != nil && res.fail.sig == sig {
			best = res
		}
	}
	return best, false
}

func (r mcResult) report(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nfailure class: %s\n%s\n", title, r.fail.sig, r.fail.msg)
	fmt.Fprintf(&b, "program (%d operations; run it with -modelcheck.prog=FILE):\n%s", len(r.prog.Ops), r.prog)
	b.WriteString("trace:\n")
	for _, l := range r.trace {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// mcCorpus returns the programs and seeds kept in testdata/modelcheck.
func mcCorpus(tb testing.TB) (progs map[string]mcProgram, seeds []uint64) {
	progs = map[string]mcProgram{}
	files, _ := filepath.Glob(filepath.Join("testdata", "modelcheck", "*.prog"))
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		p, err := mcParseProgram(string(text))
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		progs[filepath.Base(f)] = p
	}
	if text, err := os.ReadFile(filepath.Join("testdata", "modelcheck", "seeds.txt")); err == nil {
		for _, l := range strings.Split(string(text), "\n") {
			if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			v, err := strconv.ParseUint(strings.Fields(l)[0], 10, 64)
			if err != nil {
				tb.Fatalf("seeds.txt: %q: %v", l, err)
			}
			seeds = append(seeds, v)
		}
	}
	return progs, seeds
}

// TestModelCheck runs generated programs (and the programs of testdata/modelcheck) on the
// driver and on plain mattn and requires the same outcomes, but for mcAllowed.
func TestModelCheck(t *testing.T) {
	dir := t.TempDir()
	if *mcProgFlag != "" {
		text, err := os.ReadFile(*mcProgFlag)
		if err != nil {
			t.Fatal(err)
		}
		p, err := mcParseProgram(string(text))
		if err != nil {
			t.Fatal(err)
		}
		r := mcRunProgram(t, dir, p, nil, 0)
		if r.fail != nil {
			t.Fatal(r.report("the program fails"))
		}
		t.Logf("the program passes (%d operations run, truncated: %v, allowed: %v)", len(r.prog.Ops), r.trunc, r.allowed)
		return
	}
	progs, _ := mcCorpus(t)
	names := make([]string, 0, len(progs))
	for n := range progs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.Run("corpus/"+n, func(t *testing.T) {
			r := mcRunProgram(t, dir, progs[n], nil, 0)
			switch {
			case r.fail != nil && mcKnown(r.fail.sig):
				t.Logf("fails in the known class %s", r.fail.sig)
			case r.fail != nil:
				t.Error(r.report("testdata/modelcheck/" + n + " fails"))
			}
		})
	}

	base := *mcSeedFlag
	if base == 0 {
		base = mcDefaultSeed
	}
	n := *mcNFlag
	if testing.Short() {
		n = min(n, 40)
	}
	type class struct {
		seeds []uint64
		first mcResult
	}
	classes := map[string]*class{}
	var order []string
	allowed, known := map[string]int{}, map[string]int{}
	ops, trunc := 0, 0
	start := time.Now()
	for i := range n {
		seed := base + uint64(i)
		r := mcGenerate(t, dir, seed)
		ops += len(r.prog.Ops)
		if r.trunc {
			trunc++
		}
		for k, v := range r.allowed {
			allowed[k] += v
		}
		if r.fail == nil {
			continue
		}
		if mcKnown(r.fail.sig) {
			known[r.fail.sig]++
			continue
		}
		c := classes[r.fail.sig]
		if c == nil {
			c = &class{first: r}
			classes[r.fail.sig] = c
			order = append(order, r.fail.sig)
		}
		c.seeds = append(c.seeds, seed)
	}
	t.Logf("%d programs, %d operations in %v; %d stopped at stale-write-serialized; allowed differences used: %v",
		n, ops, time.Since(start).Round(time.Millisecond), trunc, allowed)
	if len(known) > 0 {
		t.Logf("programs that failed in a class of -modelcheck.known: %v", known)
	}
	for i, sig := range order {
		c := classes[sig]
		seeds := c.seeds
		if len(seeds) > 10 {
			seeds = seeds[:10]
		}
		title := fmt.Sprintf("failure class %s: %d program(s), seeds %v (rerun one with -modelcheck.seed=SEED -modelcheck.n=1)", sig, len(c.seeds), seeds)
		if i >= *mcClassesFlag {
			t.Error(title)
			continue
		}
		r, cut := mcShrink(t, dir, c.first, *mcShrinkFlag)
		if cut {
			title += " (shrinking stopped at its time limit)"
		}
		t.Error(r.report(title))
	}
}

// FuzzModelCheck runs the program of one seed.
func FuzzModelCheck(f *testing.F) {
	_, seeds := mcCorpus(f)
	for _, s := range append([]uint64{1, 2, 3}, seeds...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		dir := t.TempDir()
		r := mcGenerate(t, dir, seed)
		if r.fail == nil || mcKnown(r.fail.sig) {
			return
		}
		min, cut := mcShrink(t, dir, r, *mcShrinkFlag)
		title := fmt.Sprintf("seed %d fails", seed)
		if cut {
			title += " (shrinking stopped at its time limit)"
		}
		t.Fatal(min.report(title))
	})
}

var mcReadmeFlag = flag.Bool("modelcheck.readme", false, "print the README's Differences section from the table of allowed differences")

// mcReadmeSection is the README section that is the table of allowed differences.
const mcReadmeSection = "## Differences from plain mattn/go-sqlite3"

// mcReadmeEntry is one entry of the table as a README line: its name in bold and its reason.
func mcReadmeEntry(a mcAllowance) string {
	return "- **" + a.name + "**: " + a.reason + "."
}

// TestReadmeDifferencesAreTheCheckersTable checks that the README's Differences section lists
// exactly the entries of the table of allowed differences, in order, each with its reason
// (the bullets may wrap). With -modelcheck.readme it prints the entries as the README has them.
func TestReadmeDifferencesAreTheCheckersTable(t *testing.T) {
	var want []string
	for _, a := range mcAllowed {
		want = append(want, mcReadmeEntry(a))
	}
	if *mcReadmeFlag {
		fmt.Println(strings.Join(want, "\n"))
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), mcReadmeSection+"\n")
	if !found {
		t.Fatalf("the README has no section %q", mcReadmeSection)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var got []string
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "- **"):
			got = append(got, strings.TrimSpace(line))
		case len(got) > 0 && strings.HasPrefix(line, "  ") && strings.TrimSpace(line) != "":
			got[len(got)-1] += " " + strings.TrimSpace(line)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the README's Differences section is not the table of allowed differences (mcAllowed):\nREADME:\n%s\ntable:\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
