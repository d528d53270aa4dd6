package osquerytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
)

// Operator codes osquery sends in the context JSON (tables.h).
const (
	OpEquals = 2
	OpLike   = 65
	OpGlob   = 66
)

// ErrRequiredColumn is the error of a query that lacks an equality or IN
// constraint on a required column. osquery rejects such a query before
// the extension sees it.
var ErrRequiredColumn = errors.New("table requires a constraint on a required column")

// ErrStatus is the error of a call that returned a non-zero status, which
// fails the whole statement in osquery.
var ErrStatus = errors.New("extension returned an error status")

// Cond is one WHERE term: column = value, column IN (values...), or
// column LIKE/GLOB pattern.
type Cond struct {
	Column string
	Op     int      // OpEquals (with several Values: IN), OpLike or OpGlob
	Values []string // one value, or the IN list
}

// Eq is `column = value`.
func Eq(column, value string) Cond {
	return Cond{Column: column, Op: OpEquals, Values: []string{value}}
}

// In is `column IN (values...)`.
func In(column string, values ...string) Cond {
	return Cond{Column: column, Op: OpEquals, Values: values}
}

// Like is `column LIKE pattern`.
func Like(column, pattern string) Cond {
	return Cond{Column: column, Op: OpLike, Values: []string{pattern}}
}

// Query is one SELECT on one table.
type Query struct {
	Table   string
	Columns []string // nil means SELECT *: every column that is not hidden
	Where   []Cond
}

// INMode says how an IN list on an optimized column reaches the extension.
type INMode int

const (
	// INOptimized sends the whole list in one call, as osquery 5.14 and
	// later do for columns with the optimized option.
	INOptimized INMode = iota
	// INSplit sends one call per value, as older osquery does.
	INSplit
)

// Options change how the manager calls tables.
type Options struct {
	IN INMode
	// LegacyEmptyList writes an empty constraint list as "" instead of [],
	// as osquery before 3.0 did.
	LegacyEmptyList bool
	// Timeout bounds one call; 0 means 300 s, osquery's Thrift timeout.
	Timeout time.Duration
}

// Stats describes what a query sent.
type Stats struct {
	Calls    int      // generate calls sent to the extension
	Contexts []string // the context JSON of each call
}

// Query runs q the way osquery runs a SELECT on an extension table and
// returns the rows that pass osquery's own filtering, with NULL columns
// left out of each row. A non-zero status fails the query, as it fails the
// statement in osquery.
func (m *Manager) Query(ctx context.Context, q Query, opt Options) ([]map[string]string, Stats, error) {
	var st Stats
	ext, tbl, err := m.tableOwner(q.Table)
	if err != nil {
		return nil, st, err
	}
	if err := checkRequired(tbl, q.Where); err != nil {
		return nil, st, err
	}

	// Build the constraint set of each call, then send them one by one,
	// as SQLite calls xFilter once per IN value or once per query.
	var rows []map[string]string
	for _, cs := range callConstraints(tbl, q.Where, opt.IN) {
		ctxJSON := buildContext(tbl, cs, q, opt.LegacyEmptyList)
		st.Calls++
		st.Contexts = append(st.Contexts, ctxJSON)
		got, err := m.Generate(ctx, ext.UUID, q.Table, ctxJSON, opt.Timeout)
		if err != nil {
			return nil, st, err
		}
		for _, r := range got {
			rows = append(rows, typeRow(tbl, r))
		}
	}

	// osquery's SQLite checks every row against the WHERE clause again.
	var out []map[string]string
	for _, r := range rows {
		if matchesAll(tbl, r, q.Where) {
			out = append(out, project(tbl, r, q.Columns))
		}
	}
	return out, st, nil
}

// JoinRow is one row of a join: the outer table's row and the inner row.
type JoinRow struct {
	Outer map[string]string
	Inner map[string]string
}

// Join runs `SELECT ... FROM outer JOIN q.Table ON q.Table.innerColumn =
// outer.outerColumn` the way SQLite runs it on a virtual table: one call
// per outer row, each with an equality constraint from that row. Outer
// rows with a NULL join value match nothing and cause no call.
func (m *Manager) Join(ctx context.Context, outer []map[string]string, outerColumn string, q Query, innerColumn string, opt Options) ([]JoinRow, Stats, error) {
	var total Stats
	var out []JoinRow
	for _, o := range outer {
		v, present := o[outerColumn]
		if !present {
			continue
		}
		inner := q
		inner.Where = append(append([]Cond{}, q.Where...), Eq(innerColumn, v))
		rows, st, err := m.Query(ctx, inner, opt)
		total.Calls += st.Calls
		total.Contexts = append(total.Contexts, st.Contexts...)
		if err != nil {
			return nil, total, err
		}
		for _, r := range rows {
			out = append(out, JoinRow{Outer: o, Inner: r})
		}
	}
	return out, total, nil
}

// Generate sends one raw generate call over a new connection, as osquery
// opens one per call, and returns the rows as the extension sent them.
func (m *Manager) Generate(ctx context.Context, uuid osquery.ExtensionRouteUUID, table, contextJSON string, timeout time.Duration) ([]map[string]string, error) {
	client, closeConn, err := m.Dial(ctx, uuid, timeout)
	if err != nil {
		return nil, err
	}
	defer closeConn()

	resp, err := client.Call(ctx, "table", table, osquery.ExtensionPluginRequest{"action": "generate", "context": contextJSON})
	if err != nil {
		return nil, fmt.Errorf("call table %s: %w", table, err)
	}
	if resp.Status == nil || resp.Status.Code != 0 {
		msg := "no status"
		if resp.Status != nil {
			msg = resp.Status.Message
		}
		return nil, fmt.Errorf("table %s: %w: %s", table, ErrStatus, msg)
	}
	return resp.Response, nil
}

// Dial opens a new connection to the extension with the given UUID and
// returns a client on it and the function that closes it. Closing it
// while a call runs is how a test hangs up mid-call.
func (m *Manager) Dial(ctx context.Context, uuid osquery.ExtensionRouteUUID, timeout time.Duration) (*osquery.ExtensionClient, func(), error) {
	if timeout <= 0 {
		timeout = 300 * time.Second
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", m.extensionSocket(uuid))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to extension %d: %w", uuid, err)
	}
	sock := thrift.NewTSocketFromConnConf(conn, &thrift.TConfiguration{SocketTimeout: timeout})
	// osqueryd's extension client reads and writes through a
	// TBufferedTransport (osquery/extensions/impl_thrift.cpp), so a reply
	// costs a few reads, not two per string.
	trans := thrift.NewTBufferedTransport(sock, 64<<10)
	client := osquery.NewExtensionClientFactory(trans, thrift.NewTBinaryProtocolFactoryConf(nil))
	return client, func() { _ = trans.Close() }, nil
}

// ShutdownExtension asks the extension named name to stop, the Thrift
// shutdown call osquery sends when it exits.
func (m *Manager) ShutdownExtension(ctx context.Context, name string) error {
	ext, err := m.WaitExtension(ctx, name)
	if err != nil {
		return err
	}
	client, closeConn, err := m.Dial(ctx, ext.UUID, 10*time.Second)
	if err != nil {
		return err
	}
	defer closeConn()
	if err := client.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown extension %q: %w", name, err)
	}
	return nil
}

// PingExtension sends the Thrift ping osquery sends to check an extension.
func (m *Manager) PingExtension(ctx context.Context, name string) error {
	ext, err := m.WaitExtension(ctx, name)
	if err != nil {
		return err
	}
	client, closeConn, err := m.Dial(ctx, ext.UUID, 10*time.Second)
	if err != nil {
		return err
	}
	defer closeConn()
	st, err := client.Ping(ctx)
	if err != nil {
		return fmt.Errorf("ping extension %q: %w", name, err)
	}
	if st.Code != 0 {
		return fmt.Errorf("ping extension %q: status %d: %s", name, st.Code, st.Message)
	}
	return nil
}

func checkRequired(t Table, where []Cond) error {
	for _, c := range t.Columns {
		if c.Op&OptRequired == 0 {
			continue
		}
		found := false
		for _, w := range where {
			found = found || (w.Column == c.Name && w.Op == OpEquals)
		}
		if !found {
			return fmt.Errorf("%w: %s.%s needs = or IN", ErrRequiredColumn, t.Name, c.Name)
		}
	}
	return nil
}

type sentConstraint struct {
	column string
	op     int
	expr   string
}

// callConstraints expands the WHERE clause into the constraint set of
// each call. An IN list on an optimized column stays whole in INOptimized
// mode; every other IN list becomes one call per value.
func callConstraints(t Table, where []Cond, mode INMode) [][]sentConstraint {
	calls := [][]sentConstraint{nil}
	for _, w := range where {
		whole := len(w.Values) <= 1 || (mode == INOptimized && columnOp(t, w.Column)&OptOptimized != 0)
		if whole {
			for i := range calls {
				for _, v := range w.Values {
					calls[i] = append(calls[i], sentConstraint{w.Column, w.Op, v})
				}
			}
			continue
		}
		var next [][]sentConstraint
		for _, base := range calls {
			for _, v := range w.Values {
				next = append(next, append(append([]sentConstraint{}, base...), sentConstraint{w.Column, w.Op, v}))
			}
		}
		calls = next
	}
	return calls
}

func columnOp(t Table, name string) int {
	for _, c := range t.Columns {
		if c.Name == name {
			return c.Op
		}
	}
	return 0
}

// buildContext writes the context JSON osquery sends: an entry for every
// column of the table with its affinity and its (often empty) list of
// operator/expression pairs, plus the columns the query reads.
func buildContext(t Table, cs []sentConstraint, q Query, legacyEmpty bool) string {
	type item struct {
		Op   int    `json:"op"`
		Expr string `json:"expr"`
	}
	type entry struct {
		Name     string `json:"name"`
		List     any    `json:"list"`
		Affinity string `json:"affinity"`
	}
	var doc struct {
		Constraints []entry  `json:"constraints"`
		ColsUsed    []string `json:"colsUsed"`
	}
	for _, c := range t.Columns {
		items := []item{}
		for _, s := range cs {
			if s.column == c.Name {
				items = append(items, item{Op: s.op, Expr: s.expr})
			}
		}
		var list any = items
		if len(items) == 0 && legacyEmpty {
			list = ""
		}
		doc.Constraints = append(doc.Constraints, entry{Name: c.Name, List: list, Affinity: c.Type})
	}
	doc.ColsUsed = usedColumns(t, q)
	b, _ := json.Marshal(doc)
	return string(b)
}

func usedColumns(t Table, q Query) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if q.Columns == nil {
		for _, c := range t.Columns {
			if c.Op&OptHidden == 0 {
				add(c.Name)
			}
		}
	}
	for _, n := range q.Columns {
		add(n)
	}
	for _, w := range q.Where {
		add(w.Column)
	}
	return out
}

// typeRow applies the column types the way osquery's virtual table does:
// a value that does not parse as the column's integer type, the empty
// string included, becomes NULL and is dropped; unknown columns are
// dropped too.
func typeRow(t Table, r map[string]string) map[string]string {
	out := map[string]string{}
	for _, c := range t.Columns {
		v, present := r[c.Name]
		if !present {
			continue
		}
		if isInteger(c.Type) {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				continue
			}
		}
		out[c.Name] = v
	}
	return out
}

func isInteger(typ string) bool {
	return typ == "INTEGER" || typ == "BIGINT" || typ == "UNSIGNED BIGINT"
}

func matchesAll(t Table, r map[string]string, where []Cond) bool {
	for _, w := range where {
		if !matches(columnType(t, w.Column), r, w) {
			return false
		}
	}
	return true
}

func columnType(t Table, name string) string {
	for _, c := range t.Columns {
		if c.Name == name {
			return c.Type
		}
	}
	return "TEXT"
}

// matches checks one WHERE term the way SQLite does: NULL matches nothing,
// TEXT compares bytes exactly, integers compare as numbers, and LIKE is
// case-insensitive for ASCII.
func matches(typ string, r map[string]string, w Cond) bool {
	v, present := r[w.Column]
	if !present {
		return false
	}
	for _, want := range w.Values {
		switch w.Op {
		case OpEquals:
			if isInteger(typ) {
				a, err1 := strconv.ParseInt(v, 10, 64)
				b, err2 := strconv.ParseInt(strings.TrimSpace(want), 10, 64)
				if err1 == nil && err2 == nil && a == b {
					return true
				}
				continue
			}
			if v == want {
				return true
			}
		case OpLike:
			if likeMatch(strings.ToLower(want), strings.ToLower(v)) {
				return true
			}
		case OpGlob:
			if globMatch(want, v) {
				return true
			}
		}
	}
	return false
}

// likeMatch implements SQL LIKE with % and _ on already lower-cased text.
func likeMatch(pattern, s string) bool {
	return wildcard(pattern, s, '%', '_')
}

func globMatch(pattern, s string) bool { return wildcard(pattern, s, '*', '?') }

func wildcard(p, s string, many, one byte) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case many:
		for i := 0; i <= len(s); i++ {
			if wildcard(p[1:], s[i:], many, one) {
				return true
			}
		}
		return false
	case one:
		return s != "" && wildcard(p[1:], s[1:], many, one)
	}
	return s != "" && s[0] == p[0] && wildcard(p[1:], s[1:], many, one)
}

func project(t Table, r map[string]string, cols []string) map[string]string {
	out := map[string]string{}
	if cols == nil {
		for _, c := range t.Columns {
			if v, present := r[c.Name]; present && c.Op&OptHidden == 0 {
				out[c.Name] = v
			}
		}
		return out
	}
	for _, c := range cols {
		if v, present := r[c]; present {
			out[c] = v
		}
	}
	return out
}
