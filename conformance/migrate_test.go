package conformance

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database/sqlite3"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"
)

// The migration set both tools apply: two good files, the first with several statements
// and a trigger whose body holds semicolons, and a third that fails halfway.
const (
	migrationCreate = `CREATE TABLE account (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE entry (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES account(id), amount INTEGER NOT NULL);
CREATE INDEX entry_account ON entry(account_id);
CREATE TRIGGER entry_guard BEFORE INSERT ON entry WHEN NEW.amount = 0
BEGIN
	SELECT RAISE(ABORT, 'zero amount');
END;`
	migrationSeed = `INSERT INTO account (name) VALUES ('cash'), ('bank');
INSERT INTO entry (account_id, amount) VALUES (1, 100), (2, -100);`
	migrationBroken = `CREATE TABLE audit (id INTEGER PRIMARY KEY, note TEXT);
INSERT INTO audit (note) VALUES ('first');
INSERT INTO nowhere (note) VALUES ('fails');`
)

// schemaOf describes what the database holds: its schema and row counts, without the
// tools' own tables and their indexes.
func schemaOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	out := queryAll(db, `SELECT type, name, tbl_name FROM sqlite_schema
		WHERE tbl_name NOT LIKE 'goose%' AND tbl_name NOT LIKE 'schema_migrations%' AND name NOT LIKE 'sqlite_%'
		ORDER BY name`)
	return append(out, queryAll(db, "SELECT (SELECT count(*) FROM account), (SELECT count(*) FROM entry)")...)
}

// TestGooseMigrations applies the set with goose through both drivers: the broken file
// fails, its statements are rolled back, and both end in the same state.
func TestGooseMigrations(t *testing.T) {
	migrations := fstest.MapFS{
		"00001_create.sql": {Data: []byte("-- +goose Up\n-- +goose StatementBegin\n" + migrationCreate + "\n-- +goose StatementEnd\n")},
		"00002_seed.sql":   {Data: []byte("-- +goose Up\n" + migrationSeed + "\n")},
		"00003_broken.sql": {Data: []byte("-- +goose Up\n" + migrationBroken + "\n")},
	}
	var states [][]string
	for _, driver := range []string{"sqlite3", "sqlite-serial"} {
		db, err := sql.Open(driver, filepath.Join(t.TempDir(), "goose.db"))
		require.NoError(t, err)
		defer db.Close()

		provider, err := goose.NewProvider(goose.DialectSQLite3, db, migrations)
		require.NoError(t, err)
		_, err = provider.Up(context.Background())
		require.ErrorContains(t, err, "no such table: nowhere", driver)
		version, err := provider.GetDBVersion(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 2, version, driver)

		state := schemaOf(t, db)
		require.NotContains(t, state, `string("table") | string("audit") | string("audit")`, "the broken migration left nothing")
		states = append(states, state)
	}
	require.Equal(t, states[0], states[1])
	require.Contains(t, states[1], `string("trigger") | string("entry_guard") | string("entry")`)
}

// TestGolangMigrateMigrations applies the set with golang-migrate through both drivers.
func TestGolangMigrateMigrations(t *testing.T) {
	migrations := fstest.MapFS{
		"1_create.up.sql":   {Data: []byte(migrationCreate)},
		"1_create.down.sql": {Data: []byte("DROP TABLE entry; DROP TABLE account;")},
		"2_seed.up.sql":     {Data: []byte(migrationSeed)},
		"2_seed.down.sql":   {Data: []byte("DELETE FROM entry; DELETE FROM account;")},
		"3_broken.up.sql":   {Data: []byte(migrationBroken)},
		"3_broken.down.sql": {Data: []byte("DROP TABLE IF EXISTS audit;")},
	}
	var states, downStates [][]string
	for _, driver := range []string{"sqlite3", "sqlite-serial"} {
		db, err := sql.Open(driver, filepath.Join(t.TempDir(), "migrate.db"))
		require.NoError(t, err)
		defer db.Close()

		source, err := iofs.New(migrations, ".")
		require.NoError(t, err)
		target, err := sqlite3.WithInstance(db, &sqlite3.Config{})
		require.NoError(t, err)
		m, err := migrate.NewWithInstance("iofs", source, "sqlite3", target)
		require.NoError(t, err)
		err = m.Up()
		require.ErrorContains(t, err, "no such table: nowhere", driver)
		version, dirty, err := m.Version()
		require.NoError(t, err)
		require.EqualValues(t, 3, version, driver)
		require.True(t, dirty, "golang-migrate marks the failed version dirty")

		state := schemaOf(t, db)
		states = append(states, state)

		// Down from version 2 runs both down files: what it returns, the version it leaves
		// and the schema it leaves must be the same through both drivers.
		require.NoError(t, m.Force(2))
		down := []string{describe(m.Down())}
		version, dirty, err = m.Version()
		down = append(down, fmt.Sprintf("version=%d dirty=%v %s", version, dirty, describe(err)))
		downStates = append(downStates, append(down, schemaOf(t, db)...))
	}
	require.Equal(t, states[0], states[1])
	require.Equal(t, downStates[0], downStates[1])
	require.Equal(t, []string{"nil", "version=0 dirty=false error(no migration)", "type,name,tbl_name",
		`sqlite3.Error(code=1 extended=1 "no such table: account")`}, downStates[0],
		"with mattn, Down succeeds and drops every table but golang-migrate's own")
	require.NotContains(t, states[1], `string("table") | string("audit") | string("audit")`)
	require.Contains(t, states[1], `string("table") | string("entry") | string("entry")`)
}
