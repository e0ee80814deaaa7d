package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// machine describes where the benchmark ran.
type machine struct {
	goos, goarch  string
	cpus          int // runtime.NumCPU
	maxProcs      int // GOMAXPROCS
	cpuModel      string
	goVersion     string
	sqliteVersion string
}

// describeMachine returns the machine the benchmark runs on.
func describeMachine() machine {
	version, _, _ := sqlite3.Version()
	return machine{
		goos:          runtime.GOOS,
		goarch:        runtime.GOARCH,
		cpus:          runtime.NumCPU(),
		maxProcs:      runtime.GOMAXPROCS(0),
		cpuModel:      cpuModel(),
		goVersion:     runtime.Version(),
		sqliteVersion: version,
	}
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or "unknown CPU" where that
// file or line does not exist.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		key = strings.TrimSpace(key)
		if ok && (key == "model name" || key == "Model" || key == "cpu model") {
			return strings.Join(strings.Fields(value), " ")
		}
	}
	return "unknown CPU"
}

// String returns the platform, the CPUs and their model.
func (m machine) String() string {
	return fmt.Sprintf("%s/%s, %d CPUs (GOMAXPROCS %d), %s", m.goos, m.goarch, m.cpus, m.maxProcs, m.cpuModel)
}

// short returns the CPUs and model, for the chart's title.
func (m machine) short() string {
	return fmt.Sprintf("%d× %s, %s/%s", m.cpus, m.cpuModel, m.goos, m.goarch)
}
