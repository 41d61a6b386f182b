package notify

import (
	"html"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// FuncMap is what format templates can call: Sprig's text functions (as
// CrowdSec's templates do: toJson, lower, substr, env, ...) plus CrowdSec's
// own GetMeta, Hostname and HTMLEscape. CrowdSec's CrowdsecCTI (a call to
// its commercial API) is not provided: a format using it fails to load
// with "function "CrowdsecCTI" not defined".
func FuncMap(hostname func() (string, error)) template.FuncMap {
	f := sprig.TxtFuncMap()
	f["GetMeta"] = GetMeta
	f["Hostname"] = hostname
	f["HTMLEscape"] = html.EscapeString
	return f
}

// GetMeta returns the values of the meta key in the events of alert, in
// order (CrowdSec's template function).
func GetMeta(alert *models.Alert, key string) []string {
	if alert == nil {
		return nil
	}
	var out []string
	for _, ev := range alert.Events {
		if ev == nil {
			continue
		}
		for _, m := range ev.Meta {
			if m != nil && m.Key == key {
				out = append(out, m.Value)
			}
		}
	}
	return out
}
