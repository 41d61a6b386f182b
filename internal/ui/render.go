package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// page is what every page template gets.
type page struct {
	Title  string
	Nav    string // active menu entry
	User   string
	Role   string
	CSRF   string
	Admin  bool
	Flash  *flash
	Prefix string
	Data   any
}

var funcs = template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		d := time.Since(t)
		switch {
		case d < 0:
			return "in " + (-d).Round(time.Second).String()
		case d < time.Minute:
			return fmt.Sprintf("%ds ago", int(d.Seconds()))
		case d < time.Hour:
			return fmt.Sprintf("%dm ago", int(d.Minutes()))
		case d < 48*time.Hour:
			return fmt.Sprintf("%dh ago", int(d.Hours()))
		}
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"query": func(kv ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		return template.URL(v.Encode())
	},
	"deref": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
	"join": strings.Join,
	// visible shows control characters and invisible code points as
	// escapes (raw log lines are hostile text).
	"visible": textsafe.Terminal,
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	},
}

// render writes a page of the layout with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, s *session, status int, name, title string, data any) {
	role := roleOf(r)
	p := page{Title: title, Nav: name, User: s.user, Role: role, CSRF: s.csrf, Admin: role == RoleAdmin,
		Flash: s.flash, Prefix: Prefix, Data: data}
	u.execute(w, r, status, name, p)
}

// renderBare writes a page without session (the login page).
func (u *UI) renderBare(w http.ResponseWriter, status int, name string, data any) {
	u.execute(w, nil, status, name, page{Title: "Log in", Nav: name, Prefix: Prefix, Data: data})
}

func (u *UI) execute(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t := u.pages[name]
	var buf bytes.Buffer
	if t == nil {
		u.log.Error("ui: no template", "name", name)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	if err := t.Execute(&buf, p); err != nil {
		u.log.Error("ui: render", "page", name, "err", err)
		msg := "internal server error"
		if r != nil {
			msg = "internal server error"
		}
		http.Error(w, msg, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// redirect ends a change: the flash is shown by the next page.
func (u *UI) redirect(w http.ResponseWriter, r *http.Request, s *session, to string, f *flash) error {
	if f != nil {
		u.sessions.setFlash(s.id, f)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
