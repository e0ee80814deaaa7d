//go:build unix

package sqliteserial

import "syscall"

// openFilesLimit returns the process's soft limit on open files, or 0 when unknown.
func openFilesLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
