package osquery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Operator is a constraint operator code from osquery's tables.h, as it
// appears in the "op" field of the context JSON.
type Operator int

// The operator codes osquery sends. IN is never sent: osquery turns
// `col IN (a, b)` into one EQUALS constraint per value, either in one call
// (optimized columns, osquery 5.14 and later) or in one call per value.
const (
	OpUnique         Operator = 1
	OpEquals         Operator = 2
	OpGreater        Operator = 4
	OpLessOrEquals   Operator = 8
	OpLess           Operator = 16
	OpGreaterOrEqual Operator = 32
	OpMatch          Operator = 64
	OpLike           Operator = 65
	OpGlob           Operator = 66
	OpRegexp         Operator = 67
)

// Constraint is one operator and operand from the WHERE clause.
type Constraint struct {
	Op   Operator
	Expr string
}

// ConstraintList is the set of constraints osquery sends for one column.
type ConstraintList struct {
	Affinity    string // the column type, e.g. TEXT or INTEGER
	Constraints []Constraint
}

// QueryContext is the decoded "context" field of a generate request.
type QueryContext struct {
	// Constraints maps each column name to its constraints. osquery sends
	// an entry for every column, most with an empty list.
	Constraints map[string]ConstraintList
	// ColsUsed lists the columns the query reads, when osquery sends it.
	ColsUsed []string
}

// maxContextBytes bounds the context JSON. osquery's own calls carry a few
// kilobytes even for an IN list of a thousand hashes, so 8 MiB only stops
// abuse of the socket, never a real query.
const maxContextBytes = 8 << 20

// ParseContext decodes the context JSON osquery sends with a generate
// request. It accepts both forms osquery has used: numeric or string "op"
// codes, and an empty list written as [] or as "" (osquery before 3.0).
// An empty input is an empty context, as osquery sends no context for
// some internal calls.
func ParseContext(s string) (QueryContext, error) {
	qc := QueryContext{Constraints: map[string]ConstraintList{}}
	if len(s) > maxContextBytes {
		return qc, fmt.Errorf("parse query context: %d bytes is over the %d byte limit", len(s), maxContextBytes)
	}
	if s == "" {
		return qc, nil
	}

	var doc struct {
		Constraints []struct {
			Name     string          `json:"name"`
			Affinity string          `json:"affinity"`
			List     json.RawMessage `json:"list"`
		} `json:"constraints"`
		ColsUsed []string `json:"colsUsed"`
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return qc, fmt.Errorf("parse query context: %w", err)
	}
	qc.ColsUsed = doc.ColsUsed

	for _, c := range doc.Constraints {
		list, err := parseConstraintList(c.List)
		if err != nil {
			return qc, fmt.Errorf("parse query context: column %q: %w", c.Name, err)
		}
		// A column listed twice keeps all its constraints, so none is lost.
		prev := qc.Constraints[c.Name]
		prev.Affinity = c.Affinity
		prev.Constraints = append(prev.Constraints, list...)
		qc.Constraints[c.Name] = prev
	}
	return qc, nil
}

func parseConstraintList(raw json.RawMessage) ([]Constraint, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte(`""`)) {
		return nil, nil
	}

	var items []struct {
		Op   json.RawMessage `json:"op"`
		Expr json.RawMessage `json:"expr"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("constraint list is neither an array nor empty: %w", err)
	}

	out := make([]Constraint, 0, len(items))
	for i, it := range items {
		op, err := parseOp(it.Op)
		if err != nil {
			return nil, fmt.Errorf("constraint %d: %w", i, err)
		}
		var expr string
		if err := json.Unmarshal(it.Expr, &expr); err != nil {
			return nil, fmt.Errorf("constraint %d: expr is not a string: %w", i, err)
		}
		out = append(out, Constraint{Op: op, Expr: expr})
	}
	return out, nil
}

// parseOp reads an operator that osquery 3.0 and later sends as a number
// and older versions as a decimal string.
func parseOp(raw json.RawMessage) (Operator, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		v, err := strconv.ParseUint(n.String(), 10, 8)
		if err != nil {
			return 0, fmt.Errorf("op %s is not a small unsigned integer", n)
		}
		return Operator(v), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("op is neither a number nor a string")
	}
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("op %q is not a small unsigned integer", s)
	}
	return Operator(v), nil
}

// Values returns the operands of the EQUALS constraints on column, in the
// order osquery sent them, without duplicates. Duplicates would give
// duplicate rows, which osquery would return as they are.
func (qc QueryContext) Values(column string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range qc.Constraints[column].Constraints {
		if c.Op != OpEquals || seen[c.Expr] {
			continue
		}
		seen[c.Expr] = true
		out = append(out, c.Expr)
	}
	return out
}

// Other returns the constraints on column that are not EQUALS.
func (qc QueryContext) Other(column string) []Constraint {
	var out []Constraint
	for _, c := range qc.Constraints[column].Constraints {
		if c.Op != OpEquals {
			out = append(out, c)
		}
	}
	return out
}
