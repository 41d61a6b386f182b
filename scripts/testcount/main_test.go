package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func ev(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestCount(t *testing.T) {
	cases := []struct {
		name           string
		in             string
		passed, failed int
		skipped, pkgF  int
		skips          []string
		printed        []string
		ok             bool
	}{
		{
			name: "pass, skip with reason, subtests",
			in: ev(
				`{"Action":"run","Package":"p","Test":"TestA"}`,
				`{"Action":"run","Package":"p","Test":"TestA/x"}`,
				`{"Action":"pass","Package":"p","Test":"TestA/x"}`,
				`{"Action":"pass","Package":"p","Test":"TestA"}`,
				`{"Action":"run","Package":"p","Test":"TestPG"}`,
				`{"Action":"output","Package":"p","Test":"TestPG","Output":"=== RUN   TestPG\n"}`,
				`{"Action":"output","Package":"p","Test":"TestPG","Output":"    pg_test.go:9: PHALANX_TEST_PG_DSN not set\n"}`,
				`{"Action":"output","Package":"p","Test":"TestPG","Output":"--- SKIP: TestPG (0.00s)\n"}`,
				`{"Action":"skip","Package":"p","Test":"TestPG"}`,
				`{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}`,
				`{"Action":"pass","Package":"p"}`,
			),
			passed: 2, skipped: 1, ok: true,
			skips:   []string{"skipped: p TestPG: pg_test.go:9: PHALANX_TEST_PG_DSN not set"},
			printed: []string{"ok  \tp\t0.1s", "go test: 2 passed, 0 failed, 1 skipped"},
		},
		{
			name: "a failed test is printed and counted once",
			in: ev(
				`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: want 1, got 2\n"}`,
				`{"Action":"fail","Package":"p","Test":"TestB"}`,
				`{"Action":"pass","Package":"p","Test":"TestC"}`,
				`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.2s\n"}`,
				`{"Action":"fail","Package":"p"}`,
			),
			passed: 1, failed: 1,
			printed: []string{"want 1, got 2", "FAIL\tp", "1 passed, 1 failed, 0 skipped"},
		},
		{
			name: "a package failing outside its tests (race after the tests, TestMain, timeout)",
			in: ev(
				`{"Action":"pass","Package":"p","Test":"TestC"}`,
				`{"Action":"output","Package":"p","Output":"WARNING: DATA RACE\n"}`,
				`{"Action":"fail","Package":"p"}`,
			),
			passed: 1, pkgF: 1,
			printed: []string{"WARNING: DATA RACE", "1 packages failed outside their tests"},
		},
		{
			name: "a build failure",
			in: ev(
				`{"ImportPath":"p [p.test]","Action":"build-output","Output":"p/x.go:1:1: undefined: y\n"}`,
				`{"ImportPath":"p [p.test]","Action":"build-fail"}`,
				`{"Action":"fail","Package":"p"}`,
			),
			pkgF:    2,
			printed: []string{"undefined: y", "(no test ran)"},
		},
		{
			name:   "go's own lines are kept",
			in:     "go: downloading x v1\n" + ev(`{"Action":"pass","Package":"p","Test":"TestA"}`),
			passed: 1, ok: true,
			printed: []string{"go: downloading x v1"},
		},
		{name: "nothing ran", in: "", printed: []string{"0 passed, 0 failed, 0 skipped (no test ran)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			c := count(strings.NewReader(tc.in), &w)
			report(&w, "go test", c)
			require.Equal(t, tc.passed, c.Passed)
			require.Equal(t, tc.failed, c.Failed)
			require.Equal(t, tc.skipped, c.Skipped)
			require.Equal(t, tc.pkgF, c.PackagesFailed)
			require.Equal(t, tc.ok, c.ok())
			for _, s := range append(tc.skips, tc.printed...) {
				require.Contains(t, w.String(), s)
			}
		})
	}
}

func TestSum(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tally")
	require.NoError(t, os.WriteFile(f, []byte("10 0 2 0\n5 0 1 0\n"), 0o644))
	var w bytes.Buffer
	require.Equal(t, 0, printSum(&w, f))
	require.Equal(t, "test: 15 passed, 0 failed, 3 skipped\n", w.String())
	require.NoError(t, os.WriteFile(f, []byte("10 0 2 0\n5 1 0 0\n"), 0o644))
	w.Reset()
	require.Equal(t, 1, printSum(&w, f))
	require.Equal(t, "test: 15 passed, 1 failed, 2 skipped\n", w.String())
}
