package conformance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"golang.org/x/sync/errgroup"
)

// The bun and ent tests run one scenario on plain mattn and on sqlite-serial and require
// the same transcript from both: schema creation, CRUD, an upsert, a transaction that
// commits and one that rolls back. Then each writes from 8 goroutines at once through
// sqlite-serial, which must lose nothing and fail nothing.

// bothDrivers opens a database file of its own for each driver, with foreign keys on (as
// ent's migration requires) and a busy timeout for plain mattn.
func bothDrivers(t *testing.T) map[string]*sql.DB {
	t.Helper()
	out := map[string]*sql.DB{}
	for _, name := range []string{"sqlite3", "sqlite-serial"} {
		db, err := sql.Open(name, filepath.Join(t.TempDir(), "db.db")+"?_fk=1&_busy_timeout=5000")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		out[name] = db
	}
	return out
}

// insertConcurrently calls insert from 8 goroutines at once, 25 times each, with the
// names w<goroutine>-<i>, and requires every call to succeed.
func insertConcurrently(t *testing.T, insert func(name string, i int) error) {
	t.Helper()
	var g errgroup.Group
	for w := range 8 {
		g.Go(func() error {
			for i := range 25 {
				if err := insert(fmt.Sprintf("w%d-%d", w, i), i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
}

// Book is the bun test's model.
type Book struct {
	bun.BaseModel `bun:"table:books"`
	ID            int64  `bun:",pk,autoincrement"`
	Title         string `bun:",unique,notnull"`
	Copies        int    `bun:",notnull"`
}

// bunScenario runs the scenario through bun and returns its transcript.
func bunScenario(t *testing.T, sqldb *sql.DB) []string {
	ctx := context.Background()
	db := bun.NewDB(sqldb, sqlitedialect.New())
	var out []string
	note := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	_, err := db.NewCreateTable().Model((*Book)(nil)).Exec(ctx)
	require.NoError(t, err)
	books := []Book{{Title: "a", Copies: 1}, {Title: "b", Copies: 2}, {Title: "c", Copies: 3}}
	res, err := db.NewInsert().Model(&books).Exec(ctx)
	require.NoError(t, err)
	n, _ := res.RowsAffected()
	note("inserted %d: ids %d %d %d", n, books[0].ID, books[1].ID, books[2].ID)

	var one Book
	require.NoError(t, db.NewSelect().Model(&one).Where("title = ?", "b").Scan(ctx))
	note("selected %+v", one)

	res, err = db.NewUpdate().Model((*Book)(nil)).Set("copies = copies + 10").Where("copies >= ?", 2).Exec(ctx)
	require.NoError(t, err)
	n, _ = res.RowsAffected()
	note("updated %d", n)

	up := Book{Title: "a", Copies: 100}
	_, err = db.NewInsert().Model(&up).On("CONFLICT (title) DO UPDATE").Set("copies = EXCLUDED.copies").Exec(ctx)
	require.NoError(t, err)
	dup := Book{Title: "c", Copies: 0}
	_, err = db.NewInsert().Model(&dup).Exec(ctx)
	note("duplicate insert fails: %v", err != nil)

	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&Book{Title: "d", Copies: 4}).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewDelete().Model((*Book)(nil)).Where("title = ?", "b").Exec(ctx)
		return err
	})
	require.NoError(t, err)
	errRollback := errors.New("roll back")
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&Book{Title: "e", Copies: 5}).Exec(ctx); err != nil {
			return err
		}
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	var all []Book
	require.NoError(t, db.NewSelect().Model(&all).Order("id").Scan(ctx))
	for _, b := range all {
		note("row %d %s %d", b.ID, b.Title, b.Copies)
	}
	count, err := db.NewSelect().Model((*Book)(nil)).Count(ctx)
	require.NoError(t, err)
	note("count %d", count)
	return out
}

// TestBun runs the bun scenario on both drivers, then concurrent inserts through bun.
func TestBun(t *testing.T) {
	dbs := bothDrivers(t)
	want := bunScenario(t, dbs["sqlite3"])
	require.GreaterOrEqual(t, len(want), 8, "%q", want)
	require.Equal(t, want, bunScenario(t, dbs["sqlite-serial"]))

	db := bun.NewDB(dbs["sqlite-serial"], sqlitedialect.New())
	insertConcurrently(t, func(name string, i int) error {
		_, err := db.NewInsert().Model(&Book{Title: name, Copies: i}).Exec(context.Background())
		return err
	})
	count, err := db.NewSelect().Model((*Book)(nil)).Where("title LIKE 'w%'").Count(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 200, count)
}

// usersTable is the ent test's schema, as ent's code generator would describe it.
func usersTable() *schema.Table {
	id := &schema.Column{Name: "id", Type: field.TypeInt, Increment: true}
	t := &schema.Table{Name: "users", Columns: []*schema.Column{
		id,
		{Name: "name", Type: field.TypeString, Unique: true},
		{Name: "age", Type: field.TypeInt},
	}, PrimaryKey: []*schema.Column{id}}
	return t
}

// entScenario runs the scenario through ent's SQL driver (entsql.OpenDB) and its schema
// migration, and returns its transcript.
func entScenario(t *testing.T, db *sql.DB) []string {
	ctx := context.Background()
	drv := entsql.OpenDB(dialect.SQLite, db)
	var out []string
	note := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	m, err := schema.NewMigrate(drv)
	require.NoError(t, err)
	require.NoError(t, m.Create(ctx, usersTable()))

	insert := func(ex dialect.ExecQuerier, name string, age int) (int64, error) {
		q, args := entsql.Dialect(dialect.SQLite).Insert("users").Columns("name", "age").Values(name, age).Returning("id").Query()
		var rows entsql.Rows
		if err := ex.Query(ctx, q, args, &rows); err != nil {
			return 0, err
		}
		defer rows.Close()
		var id int64
		if !rows.Next() {
			return 0, rows.Err()
		}
		return id, rows.Scan(&id)
	}
	for _, u := range []struct {
		name string
		age  int
	}{{"ann", 30}, {"bob", 40}, {"cid", 50}} {
		id, err := insert(drv, u.name, u.age)
		require.NoError(t, err)
		note("inserted %s as %d", u.name, id)
	}

	q, args := entsql.Dialect(dialect.SQLite).Update("users").Add("age", 1).Where(entsql.GTE("age", 40)).Query()
	var res sql.Result
	require.NoError(t, drv.Exec(ctx, q, args, &res))
	n, _ := res.RowsAffected()
	note("updated %d", n)

	q, args = entsql.Dialect(dialect.SQLite).Insert("users").Columns("name", "age").Values("ann", 99).
		OnConflict(entsql.ConflictColumns("name"), entsql.ResolveWithNewValues()).Query()
	require.NoError(t, drv.Exec(ctx, q, args, &res))
	_, err = insert(drv, "bob", 0)
	note("duplicate insert fails: %v", err != nil)

	tx, err := drv.Tx(ctx)
	require.NoError(t, err)
	_, err = insert(tx, "dan", 60)
	require.NoError(t, err)
	q, args = entsql.Dialect(dialect.SQLite).Delete("users").Where(entsql.EQ("name", "bob")).Query()
	require.NoError(t, tx.Exec(ctx, q, args, &res))
	require.NoError(t, tx.Commit())
	tx, err = drv.Tx(ctx)
	require.NoError(t, err)
	_, err = insert(tx, "eve", 70)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())

	q, args = entsql.Dialect(dialect.SQLite).Select("id", "name", "age").From(entsql.Table("users")).OrderBy("id").Query()
	var rows entsql.Rows
	require.NoError(t, drv.Query(ctx, q, args, &rows))
	for rows.Next() {
		var id, age int64
		var name string
		require.NoError(t, rows.Scan(&id, &name, &age))
		note("row %d %s %d", id, name, age)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	return out
}

// TestEnt runs the ent scenario on both drivers, then concurrent inserts through ent.
func TestEnt(t *testing.T) {
	dbs := bothDrivers(t)
	want := entScenario(t, dbs["sqlite3"])
	require.GreaterOrEqual(t, len(want), 8, "%q", want)
	require.Equal(t, want, entScenario(t, dbs["sqlite-serial"]))

	drv := entsql.OpenDB(dialect.SQLite, dbs["sqlite-serial"])
	insertConcurrently(t, func(name string, i int) error {
		q, args := entsql.Dialect(dialect.SQLite).Insert("users").Columns("name", "age").Values(name, i).Query()
		var res sql.Result
		return drv.Exec(context.Background(), q, args, &res)
	})
	var n int
	require.NoError(t, dbs["sqlite-serial"].QueryRow("SELECT count(*) FROM users WHERE name LIKE 'w%'").Scan(&n))
	require.Equal(t, 200, n)
}
