package notify

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// Field is one configuration key of a notification as `phalanx
// notifications inspect` shows it.
type Field struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// Redacted replaces secrets in Describe and in logs.
const Redacted = "<redacted>"

// Describe lists the configuration keys in declaration order (common keys
// first, nested keys dotted: rotate.max_size), with secrets redacted:
// fields tagged `notify:"secret"` print as <redacted> (for a map: its keys,
// each value redacted), fields tagged `notify:"url"` as RedactURL does.
func (s *Spec) Describe() []Field {
	var out []Field
	describe(reflect.ValueOf(s.Config), "", &out)
	return out
}

func describe(v reflect.Value, prefix string, out *[]Field) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		if strings.Contains(opts, "inline") {
			describe(fv, prefix, out)
			continue
		}
		key := prefix + name
		switch f.Tag.Get("notify") {
		case "secret":
			*out = append(*out, Field{key, redactValue(fv)})
			continue
		case "url":
			*out = append(*out, Field{key, RedactURL(fv.String())})
			continue
		}
		switch {
		case fv.Type() == reflect.TypeFor[time.Duration]():
			*out = append(*out, Field{key, time.Duration(fv.Int()).String()})
		case fv.Kind() == reflect.Struct:
			describe(fv, key+".", out)
		default:
			*out = append(*out, Field{key, fv.Interface()})
		}
	}
}

func redactValue(v reflect.Value) any {
	switch {
	case v.Kind() == reflect.Map:
		if v.Len() == 0 {
			return map[string]string{}
		}
		m := map[string]string{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = Redacted
		}
		return m
	case v.IsZero():
		return ""
	}
	return Redacted
}

// RedactURL keeps the scheme and host of a URL: a path, query or user info
// may hold a token (Slack webhooks, Discord, ?apikey=) and is replaced by
// <redacted>. An unparsable URL is <redacted> whole.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Redacted
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		out += "/" + Redacted
	}
	return out
}
