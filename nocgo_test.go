//go:build !cgo

package sqliteserial

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// TestWithoutCgo: built without cgo, a program that imports the driver builds, and its Ping
// fails with mattn/go-sqlite3's own error, as a program that imports mattn alone does.
func TestWithoutCgo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	var errs []string
	for _, name := range []string{"sqlite3", DriverName} {
		db, err := sql.Open(name, path)
		if err != nil {
			t.Fatalf("%s: Open: %v", name, err)
		}
		err = db.Ping()
		if err == nil {
			t.Fatalf("%s: Ping succeeded without cgo", name)
		}
		errs = append(errs, err.Error())
		db.Close()
	}
	if errs[0] != errs[1] {
		t.Fatalf("the driver's error %q is not mattn's %q", errs[1], errs[0])
	}
	if _, err := sql.Open(DriverName, path+"?_serial_readers=0"); err == nil {
		t.Fatal("an invalid _serial_ key is still refused by Open")
	}
}
