//go:build !unix

package sqliteserial

// openFilesLimit returns 0: the limit on open files is not known here.
func openFilesLimit() uint64 { return 0 }
