package exprenv

import "reflect"

// collectionHelpers: Flatten, Distinct, FlattenDistinct (untyped).
func (e *Env) collectionHelpers() []helper {
	return []helper{
		{"Flatten", flattenHelper, nil},
		{"Distinct", distinct, nil},
		{"FlattenDistinct", func(p ...any) (any, error) { return distinct(flatten(nil, reflect.ValueOf(p))) }, nil},
	}
}

// Flatten(args...) []any: every argument, lists spread recursively.
func flattenHelper(p ...any) (any, error) { return flatten(nil, reflect.ValueOf(p)), nil }

func flatten(out []any, v reflect.Value) []any {
	if v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		for i := 0; i < v.Len(); i++ {
			out = flatten(out, v.Index(i))
		}
		return out
	}
	if !v.IsValid() {
		return append(out, nil)
	}
	return append(out, v.Interface())
}

// Distinct(list) []any: the list without repeats, first occurrence kept;
// nil for a non-list argument.
func distinct(p ...any) (any, error) {
	if len(p) == 0 || p[0] == nil {
		return nil, nil
	}
	v := reflect.ValueOf(p[0])
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return nil, nil
	}
	seen := make(map[any]struct{}, v.Len())
	out := make([]any, 0, v.Len())
	for i := 0; i < v.Len(); i++ {
		x := v.Index(i).Interface()
		if x != nil && !reflect.TypeOf(x).Comparable() {
			out = append(out, x) // cannot be a map key: kept as is
			continue
		}
		if _, dup := seen[x]; dup {
			continue
		}
		seen[x] = struct{}{}
		out = append(out, x)
	}
	return out, nil
}
