package httpbouncer

import (
	"net/http"
	"net/url"
	"strings"
)

// maxRedirect bounds the target a challenge sends the client back to; a
// longer request URI comes back to "/".
const maxRedirect = 2048

// safeRedirect returns s when it is a local target that every reader
// resolves to this origin, else "/".
//
// Accepted: an absolute path ("/..."), with an optional query, of at most
// maxRedirect bytes of printable ASCII without space or backslash (so
// there is nothing for a browser to strip: WHATWG URL parsing drops tabs
// and newlines and reads "\" as "/", which turns "/\t/evil.com" or
// "/\evil.com" into "//evil.com"); url.Parse finds no scheme, host or
// user in it; and its path, percent-decoded once (as a server or a
// framework in between might), still holds no control character or
// backslash and does not start with "//" ("/%2F%2Fevil.com",
// "/%09/evil.com" are refused).
func safeRedirect(s string) string {
	if !isLocalTarget(s) {
		return "/"
	}
	return s
}

func isLocalTarget(s string) bool {
	if s == "" || len(s) > maxRedirect || s[0] != '/' || strings.HasPrefix(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return false
	}
	path, _, _ := strings.Cut(s, "?")
	dec, err := url.PathUnescape(path)
	if err != nil || strings.HasPrefix(dec, "//") {
		return false
	}
	for i := 0; i < len(dec); i++ {
		if c := dec[i]; c < ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// seeOther answers 303 to target as it is (http.Redirect would clean the
// path: what was checked is what the browser gets).
func seeOther(w http.ResponseWriter, target string) {
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}
