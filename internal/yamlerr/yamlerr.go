// Package yamlerr turns yaml.v3 decoding errors into messages that name the
// file, the line and, for unknown keys, the field:
// "parse: /x/y.yaml:12: field onsuccces: unknown field (in NodeConfig)".
package yamlerr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	lineRe          = regexp.MustCompile(`line (\d+): (.*)`)
	fieldNotFoundRe = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
)

// Error is a YAML syntax or schema error (unknown field, wrong type) with
// its file and line. It unwraps to the yaml.v3 error.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// New wraps err, a yaml.v3 error met while decoding path, as
// "component: path:line: message". typePrefix is trimmed from Go type names
// in unknown-field messages ("parse." gives "(in NodeConfig)").
func New(component, path string, err error, typePrefix string) *Error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs := make([]string, 0, len(te.Errors))
		for _, e := range te.Errors {
			if m := lineRe.FindStringSubmatch(e); m != nil {
				msgs = append(msgs, fmt.Sprintf("%s:%s: %s", path, m[1], fieldMsg(m[2], typePrefix)))
			} else {
				msgs = append(msgs, path+": "+e)
			}
		}
		return &Error{msg: component + ": " + strings.Join(msgs, "; "), err: err}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		return &Error{msg: fmt.Sprintf("%s: %s:%s: %s", component, path, m[1], m[2]), err: err}
	}
	return &Error{msg: fmt.Sprintf("%s: %s: %s", component, path, msg), err: err}
}

func fieldMsg(m, typePrefix string) string {
	if f := fieldNotFoundRe.FindStringSubmatch(m); f != nil {
		return fmt.Sprintf("field %s: unknown field (in %s)", f[1], strings.TrimPrefix(f[2], typePrefix))
	}
	return m
}
