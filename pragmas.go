//go:build cgo

package sqliteserial

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sqlite-serial/sqlite-serial/internal/route"
)

// pragmaSettings are the broadcast pragma settings made through a connector, in the order
// they were made, the latest of each pragma only. Each physical connection records the
// generation it applied and catches up before its next statement.
type pragmaSettings struct {
	gen  atomic.Uint64
	mu   sync.Mutex
	list []route.Setting
}

// record adds settings, replacing earlier settings of the same pragmas.
func (ps *pragmaSettings) record(settings []route.Setting) {
	if len(settings) == 0 {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	// A new slice each time: sync reads the old one without the lock.
	list := make([]route.Setting, 0, len(ps.list)+len(settings))
	for _, old := range ps.list {
		replaced := false
		for _, s := range settings {
			replaced = replaced || s.Name == old.Name
		}
		if !replaced {
			list = append(list, old)
		}
	}
	ps.list = append(list, settings...)
	ps.gen.Add(1)
}

// sync applies to p the settings it has not applied yet. A reader skips query_only, which
// it keeps on; a session connection skips temp_store once it is in use, since changing
// temp_store drops the connection's temp objects. A connection inside a transaction is
// left for later: SQLite ignores some settings there (foreign_keys) and refuses others
// (synchronous), so it catches up before its first statement after the transaction. The
// check costs one atomic load when p is up to date.
func (ps *pragmaSettings) sync(p *physConn) error {
	gen := ps.gen.Load()
	if p.pragmaGen == gen || !p.AutoCommit() {
		return nil
	}
	ps.mu.Lock()
	list := ps.list
	gen = ps.gen.Load()
	ps.mu.Unlock()
	for _, s := range list {
		if (p.reader && s.Name == "query_only") || (p.session && s.Name == "temp_store") {
			continue
		}
		if _, err := p.ExecContext(context.Background(), s.SQL, nil); err != nil {
			return fmt.Errorf("sqliteserial: applying %q to another connection: %w", s.SQL, err)
		}
	}
	p.pragmaGen = gen
	return nil
}
