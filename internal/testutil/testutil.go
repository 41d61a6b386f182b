// Package testutil finds the shared test data beside the repository and
// generates log corpora with shared/bench/genlogs, so that no generated
// corpus is committed.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Shared returns the path of the shared/ folder beside the repository,
// walking up from the working directory. It fails the test when missing:
// the hub copy is test data every test run needs.
func Shared(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared")
		if st, err := os.Stat(filepath.Join(p, "hub", "index.json")); err == nil && !st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: shared/hub not found above the working directory: the shared test data must sit beside the repository")
		}
		dir = parent
	}
}

// Hub returns shared/hub.
func Hub(t testing.TB) string { return filepath.Join(Shared(t), "hub") }

var genMu sync.Mutex

// GenLogs writes a genlogs corpus (kind "nginx" or "sshd") of n lines with
// the given seed into dir and returns the log path and the truth path. The
// corpus is cached in the OS temp dir per (kind, n, seed) for the run.
func GenLogs(t testing.TB, kind string, n, seed int) (logPath, truthPath string) {
	t.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	dir := filepath.Join(os.TempDir(), "phalanx-genlogs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, kind+"-"+strconv.Itoa(n)+"-s"+strconv.Itoa(seed))
	logPath, truthPath = base+".log", base+".truth"
	if st, err := os.Stat(logPath); err == nil && st.Size() > 0 {
		if _, err := os.Stat(truthPath); err == nil {
			return logPath, truthPath
		}
	}
	out, err := os.Create(logPath + ".tmp")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	truth, err := os.Create(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	defer truth.Close()
	cmd := exec.Command("go", "run", "./genlogs", "-kind", kind, "-lines", strconv.Itoa(n), "-seed", strconv.Itoa(seed))
	cmd.Dir = filepath.Join(Shared(t), "bench")
	cmd.Stdout, cmd.Stderr = out, truth
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if err := cmd.Run(); err != nil {
		t.Fatalf("testutil: genlogs: %v", err)
	}
	if err := os.Rename(logPath+".tmp", logPath); err != nil {
		t.Fatal(err)
	}
	return logPath, truthPath
}
