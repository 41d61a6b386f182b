package lapi

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAlertBatchDirect: decodeBody hands an alert batch its body without
// json.Unmarshal's validation pass; the batch must refuse what
// json.Unmarshal refuses (trailing data included) and accept the rest.
func TestAlertBatchDirect(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		ok      bool
		alerts  int
		tooMany bool
	}{
		{name: "empty array", body: `[]`, ok: true},
		{name: "two alerts, space around", body: " \n[{\"scenario\":\"a\"}, {\"scenario\":\"b\"}]\r\n\t ", ok: true, alerts: 2},
		{name: "null", body: `null`, ok: true},
		{name: "null then garbage", body: `null x`},
		{name: "trailing garbage", body: `[{"scenario":"a"}] x`},
		{name: "two arrays", body: `[][]`},
		{name: "trailing comma", body: `[{"scenario":"a"},]`},
		{name: "unclosed", body: `[{"scenario":"a"}`},
		{name: "object", body: `{"scenario":"a"}`},
		{name: "malformed alert", body: `[{"scenario": }]`},
		{name: "wrong field type", body: `[{"scenario": 1}]`},
		{name: "too many", body: `[{},{},{},{}]`, tooMany: true, alerts: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			direct := alertBatch{max: 3}
			err := direct.UnmarshalJSON([]byte(tc.body))
			via := alertBatch{max: 3}
			viaErr := json.Unmarshal([]byte(tc.body), &via)
			require.Equal(t, viaErr == nil, err == nil, "direct %v, json.Unmarshal %v", err, viaErr)
			require.Equal(t, tc.ok, err == nil, "err %v", err)
			require.Equal(t, tc.tooMany, direct.tooMany)
			if err == nil || tc.tooMany { // a refused body leaves what it decoded before the error
				require.Len(t, direct.alerts, tc.alerts)
			}
		})
	}
}
