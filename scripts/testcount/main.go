// Command testcount reads `go test -json` events on stdin and tells the
// truth about them: it prints the package lines (ok / FAIL), the output of
// every failed test and of build failures, then the counts of passed,
// failed and skipped tests (subtests included), each skipped test by name
// with its reason. It exits 1 when a test, a package or a build failed, or
// when no test ran.
//
//	go test -json ./... 2>&1 | go run ./scripts/testcount -stage "go test" -tally FILE
//	go run ./scripts/testcount -sum FILE     # the totals of every tallied stage
//
// Lines that are not JSON events (go's own messages) are printed as they come.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one `go test -json` record (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
}

// counts are a run's results.
type counts struct {
	Passed, Failed, Skipped int
	// PackagesFailed counts packages (or builds) that failed outside any test.
	PackagesFailed int
	// SkipReasons: "pkg TestX/sub: reason" for each skipped test.
	SkipReasons []string
	// Failures: the output of each failed test or build, in order.
	Failures []string
}

func main() {
	stage := flag.String("stage", "go test", "the name printed with the counts")
	tally := flag.String("tally", "", "append this stage's counts to FILE")
	sum := flag.String("sum", "", "print the totals of FILE (written by -tally) and exit 1 if any failed")
	flag.Parse()
	if *sum != "" {
		os.Exit(printSum(os.Stdout, *sum))
	}
	c := count(os.Stdin, os.Stdout)
	report(os.Stdout, *stage, c)
	if *tally != "" {
		f, err := os.OpenFile(*tally, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = fmt.Fprintf(f, "%d %d %d %d\n", c.Passed, c.Failed, c.Skipped, c.PackagesFailed)
			err = errorsJoin(err, f.Close())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "testcount:", err)
			os.Exit(1)
		}
	}
	if !c.ok() {
		os.Exit(1)
	}
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (c counts) ok() bool { return c.Failed == 0 && c.PackagesFailed == 0 && c.Passed+c.Skipped > 0 }

// count reads the events of r, echoing package lines, failures and
// non-JSON lines to w.
func count(r io.Reader, w io.Writer) counts {
	var c counts
	out := map[string][]string{}   // "pkg test" -> its output lines
	build := map[string][]string{} // ImportPath -> build output
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Fprintln(w, string(line))
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			build[e.ImportPath] = append(build[e.ImportPath], e.Output)
		case "build-fail":
			c.PackagesFailed++
			f := "build failed: " + e.ImportPath + "\n" + strings.Join(build[e.ImportPath], "")
			c.Failures = append(c.Failures, f)
			fmt.Fprint(w, f)
		case "output":
			if e.Test == "" {
				if strings.HasPrefix(e.Output, "ok ") || strings.HasPrefix(e.Output, "FAIL") ||
					strings.HasPrefix(e.Output, "?") || strings.Contains(e.Output, "[no test files]") ||
					strings.Contains(e.Output, "panic:") || strings.Contains(e.Output, "WARNING: DATA RACE") {
					fmt.Fprint(w, e.Output)
				}
				out[key] = append(out[key], e.Output)
				continue
			}
			out[key] = append(out[key], e.Output)
		case "pass":
			if e.Test != "" {
				c.Passed++
			}
			delete(out, key)
		case "skip":
			if e.Test != "" {
				c.Skipped++
				c.SkipReasons = append(c.SkipReasons, e.Package+" "+e.Test+": "+skipReason(out[key]))
			}
			delete(out, key)
		case "fail":
			if e.Test != "" {
				c.Failed++
			} else if !hasTestFailure(c, e.Package) {
				c.PackagesFailed++ // no test failed: a panic, a timeout, TestMain, a race after the tests
			}
			f := "--- " + strings.TrimSpace(key) + "\n" + strings.Join(out[key], "")
			c.Failures = append(c.Failures, f)
			if e.Test != "" {
				fmt.Fprint(w, strings.Join(out[key], ""))
			}
			delete(out, key)
		}
	}
	if err := sc.Err(); err != nil {
		c.PackagesFailed++
		c.Failures = append(c.Failures, "reading the events: "+err.Error())
	}
	return c
}

// hasTestFailure reports whether a test of pkg failed (then the package's
// own fail event is its consequence, not another failure).
func hasTestFailure(c counts, pkg string) bool {
	for _, f := range c.Failures {
		if strings.HasPrefix(f, "--- "+pkg+" ") {
			return true
		}
	}
	return false
}

// skipReason is what a skipped test logged (its t.Skip message), without
// the RUN/PAUSE/CONT and --- SKIP lines.
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msg = append(msg, t)
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msg, " / ")
}

func report(w io.Writer, stage string, c counts) {
	sort.Strings(c.SkipReasons)
	for _, s := range c.SkipReasons {
		fmt.Fprintln(w, "skipped:", s)
	}
	fmt.Fprintf(w, "%s: %d passed, %d failed, %d skipped", stage, c.Passed, c.Failed, c.Skipped)
	if c.PackagesFailed > 0 {
		fmt.Fprintf(w, ", %d packages failed outside their tests", c.PackagesFailed)
	}
	if c.Passed+c.Skipped == 0 {
		fmt.Fprint(w, " (no test ran)")
	}
	fmt.Fprintln(w)
}

// printSum prints the totals of a tally file and returns the exit code.
func printSum(w io.Writer, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testcount:", err)
		return 1
	}
	var t counts
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var p, f, s, pf int
		if _, err := fmt.Sscan(l, &p, &f, &s, &pf); err != nil {
			fmt.Fprintf(os.Stderr, "testcount: %s: bad line %q\n", path, l)
			return 1
		}
		t.Passed, t.Failed, t.Skipped, t.PackagesFailed = t.Passed+p, t.Failed+f, t.Skipped+s, t.PackagesFailed+pf
	}
	fmt.Fprintf(w, "test: %d passed, %d failed, %d skipped", t.Passed, t.Failed, t.Skipped)
	if t.PackagesFailed > 0 {
		fmt.Fprintf(w, ", %d packages failed outside their tests", t.PackagesFailed)
	}
	fmt.Fprintln(w)
	if !t.ok() {
		return 1
	}
	return 0
}
