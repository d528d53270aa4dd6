package osquery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseContext(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string][]Constraint
		wantErr bool
	}{
		{name: "empty input", in: "", want: map[string][]Constraint{}},
		{
			name: "numeric ops",
			in:   `{"constraints":[{"name":"ioc","list":[{"op":2,"expr":"8.8.8.8"},{"op":2,"expr":"1.1.1.1"}],"affinity":"TEXT"},{"name":"verdict","list":[],"affinity":"TEXT"}]}`,
			want: map[string][]Constraint{"ioc": {{OpEquals, "8.8.8.8"}, {OpEquals, "1.1.1.1"}}, "verdict": nil},
		},
		{
			name: "string ops and empty-string list",
			in:   `{"constraints":[{"name":"ioc","list":[{"op":"65","expr":"%evil%"}],"affinity":"TEXT"},{"name":"offline","list":"","affinity":"INTEGER"}]}`,
			want: map[string][]Constraint{"ioc": {{OpLike, "%evil%"}}, "offline": nil},
		},
		{name: "not json", in: `{"constraints":`, wantErr: true},
		{name: "list is a number", in: `{"constraints":[{"name":"ioc","list":5}]}`, wantErr: true},
		{name: "op out of range", in: `{"constraints":[{"name":"ioc","list":[{"op":300,"expr":"x"}]}]}`, wantErr: true},
		{name: "expr not string", in: `{"constraints":[{"name":"ioc","list":[{"op":2,"expr":7}]}]}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			qc, err := ParseContext(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseContext(%q) = nil error, want an error", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseContext: %v", err)
			}
			got := map[string][]Constraint{}
			for name, l := range qc.Constraints {
				got[name] = l.Constraints
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("constraints = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestContextValuesDropsDuplicates(t *testing.T) {
	qc, err := ParseContext(`{"constraints":[{"name":"ioc","list":[{"op":2,"expr":"a"},{"op":65,"expr":"b%"},{"op":2,"expr":"a"},{"op":2,"expr":"c"}],"affinity":"TEXT"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := qc.Values("ioc"), []string{"a", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Values = %q, want %q", got, want)
	}
	if got := qc.Other("ioc"); len(got) != 1 || got[0].Op != OpLike {
		t.Errorf("Other = %v, want one LIKE", got)
	}
}

// FuzzParseContext checks that no input panics, and that what parses
// survives a round trip through the canonical form osquery writes.
func FuzzParseContext(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/context/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(`{"constraints":[{"name":"ioc","list":"","affinity":"TEXT"}]}`)
	f.Add(`{"constraints":[{"name":"ioc","list":[{"op":"2","expr":"\u0000"}]}]}`)

	f.Fuzz(func(t *testing.T, in string) {
		qc, err := ParseContext(in)
		if err != nil {
			return
		}
		type item struct {
			Op   int    `json:"op"`
			Expr string `json:"expr"`
		}
		type entry struct {
			Name     string `json:"name"`
			List     []item `json:"list"`
			Affinity string `json:"affinity"`
		}
		var doc struct {
			Constraints []entry `json:"constraints"`
		}
		for name, l := range qc.Constraints {
			e := entry{Name: name, Affinity: l.Affinity, List: []item{}}
			for _, c := range l.Constraints {
				e.List = append(e.List, item{int(c.Op), c.Expr})
			}
			doc.Constraints = append(doc.Constraints, e)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := ParseContext(string(b))
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", b, err)
		}
		for name, l := range qc.Constraints {
			if !sameConstraints(l.Constraints, again.Constraints[name].Constraints) {
				t.Fatalf("column %q: %v became %v", name, l.Constraints, again.Constraints[name].Constraints)
			}
		}
	})
}

func sameConstraints(a, b []Constraint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
