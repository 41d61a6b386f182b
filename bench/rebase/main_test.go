package main

import (
	"regexp"
	"strings"
	"testing"
)

// Every line is counted once whatever the number of workers, and the
// patterns take the generator's line shapes.
func TestRun(t *testing.T) {
	nginx := `1.2.3.4 - - [01/Mar/2024:00:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8"` + "\n"
	sshd := "Mar  1 00:00:01 web01 sshd[123]: Failed password for root from 1.2.3.4 port 22 ssh2\n"
	for kind, line := range map[string]string{"nginx": nginx, "sshd": sshd} {
		re := regexp.MustCompile(patterns[kind])
		data := []byte(strings.Repeat(line, 97) + "garbage\n" + strings.TrimSuffix(line, "\n"))
		for _, w := range []int{1, 2, 3, 7, 200} {
			n, m := run(re, data, w)
			if n != 99 || m != 98 {
				t.Errorf("%s, %d workers: %d lines, %d matched; want 99, 98", kind, w, n, m)
			}
		}
	}
}
