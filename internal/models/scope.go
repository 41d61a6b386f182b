package models

import "strings"

// NormalizeScope writes the well-known scopes as CrowdSec does (ip -> Ip,
// range -> Range, country -> Country, as -> AS); other scopes are returned
// unchanged.
func NormalizeScope(scope string) string {
	switch strings.ToLower(scope) {
	case "ip":
		return "Ip"
	case "range":
		return "Range"
	case "country":
		return "Country"
	case "as":
		return "AS"
	}
	return scope
}
