package vt

import (
	"encoding/json"
	"reflect"
	"testing"
)

// A map that Keep rejected is reused for the next member, but a selection
// nested inside that member must get a map of its own.
func TestDecodeSelectedNestedOthers(t *testing.T) {
	body := []byte(`{"data":{"attributes":{"x":{"drop":{"k":1},"keep":{"inner":{"v":2}}}}}}`)
	sel := &Selection{Members: map[string]*Selection{
		"x": {
			Others: &Selection{Others: &Selection{Whole: true}},
			Keep: func(v any) bool {
				m, _ := v.(map[string]any)
				return len(m) > 0 && m["k"] == nil
			},
		},
	}}
	o, ok := DecodeSelected(body, sel)
	if !ok {
		t.Fatal("DecodeSelected gave up on a valid body")
	}
	want := map[string]any{"keep": map[string]any{"inner": map[string]any{"v": json.Number("2")}}}
	// got is not printed, because the failure this test guards against
	// makes a map that contains itself.
	if got := o.Attributes["x"]; !reflect.DeepEqual(got, want) {
		t.Errorf("x differs from %v", want)
	}
}
