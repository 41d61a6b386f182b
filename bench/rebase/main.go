// Command rebase is bench/run's yardstick: a bare Go regexp pass over a
// corpus, one submatch regexp per line (the fields a parser would take
// from an nginx access line or an sshd syslog line), on every CPU, with
// nothing else (no grok, no enrichment, no scenarios). It prints lines/s,
// so replay's figure can be given as a ratio to it, measured in the same
// run on the same machine.
//
//	go run ./bench/rebase -kind nginx bench/out/nginx-1000000-s1.log
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sync"
	"time"
)

var patterns = map[string]string{
	"nginx": `^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) HTTP/([\d.]+)" (\d+) (\d+) "([^"]*)" "([^"]*)"`,
	"sshd":  `^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([\w-]+)(?:\[(\d+)\])?: (.*)$`,
}

func main() {
	kind := flag.String("kind", "nginx", "nginx or sshd")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: rebase -kind nginx|sshd FILE")
		os.Exit(2)
	}
	p, ok := patterns[*kind]
	if !ok {
		fmt.Fprintln(os.Stderr, "rebase: unknown kind", *kind)
		os.Exit(2)
	}
	data, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "rebase:", err)
		os.Exit(1)
	}
	re := regexp.MustCompile(p)
	start := time.Now()
	lines, matched := run(re, data, runtime.GOMAXPROCS(0))
	secs := time.Since(start).Seconds()
	fmt.Printf("%d lines (%d matched) in %.2f s = %.0f lines/s\n", lines, matched, secs, float64(lines)/secs)
	if matched*10 < lines*9 {
		fmt.Fprintf(os.Stderr, "rebase: only %d of %d lines matched: wrong -kind?\n", matched, lines)
		os.Exit(1)
	}
}

// run matches every line of data against re on workers goroutines, each
// on its own contiguous share of the lines.
func run(re *regexp.Regexp, data []byte, workers int) (lines, matched int) {
	var wg sync.WaitGroup
	counts := make([][2]int, workers)
	chunk := len(data)/workers + 1
	for w, from := 0, 0; w < workers && from < len(data); w++ {
		to := min(from+chunk, len(data))
		if i := bytes.IndexByte(data[to:], '\n'); i >= 0 && to < len(data) {
			to += i + 1
		} else {
			to = len(data)
		}
		part := data[from:to]
		from = to
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n, m int
			for len(part) > 0 {
				line := part
				if i := bytes.IndexByte(part, '\n'); i >= 0 {
					line, part = part[:i], part[i+1:]
				} else {
					part = nil
				}
				n++
				if re.FindSubmatchIndex(line) != nil {
					m++
				}
			}
			counts[w] = [2]int{n, m}
		}()
	}
	wg.Wait()
	for _, c := range counts {
		lines += c[0]
		matched += c[1]
	}
	return lines, matched
}
