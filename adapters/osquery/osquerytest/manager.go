// Package osquerytest is a fake osquery extension manager for tests. It
// speaks osquery's Thrift extension API on a unix socket, built from
// osquery-go's generated code, and calls registered table plugins the way
// osquery does: a new connection per call, a context JSON with every
// column, constraints as operator codes, required columns checked before
// the call, IN lists split or sent whole, and the returned rows filtered
// again by the WHERE clause.
package osquerytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
)

// Manager is a fake osquery process: the extension manager end of the
// socket that extensions register with.
type Manager struct {
	path string

	mu        sync.Mutex
	listener  net.Listener
	conns     map[net.Conn]bool
	wg        sync.WaitGroup
	exts      map[osquery.ExtensionRouteUUID]*Extension
	nextUUID  osquery.ExtensionRouteUUID
	changed   chan struct{} // closed and replaced whenever exts changes
	pings     int
	registers int
}

// Extension is a registered extension as the manager sees it.
type Extension struct {
	UUID   osquery.ExtensionRouteUUID
	Name   string
	Tables map[string]Table
}

// Table is one table plugin's column list, from its registration routes.
type Table struct {
	Name    string
	Columns []Column
}

// Column is one column and its options.
type Column struct {
	Name string
	Type string // TEXT, INTEGER, BIGINT, ...
	Op   int    // bitmask: 1 index, 2 required, 4 additional, 8 optimized, 16 hidden
}

// Column option bits, as osquery's column.h defines them.
const (
	OptIndex     = 1
	OptRequired  = 2
	OptOptimized = 8
	OptHidden    = 16
)

// New returns a manager for the socket at path. Call Start to listen.
func New(path string) *Manager {
	return &Manager{path: path, exts: map[osquery.ExtensionRouteUUID]*Extension{}, changed: make(chan struct{}), nextUUID: 1000}
}

// Path returns the manager's socket path, the value of --socket.
func (m *Manager) Path() string { return m.path }

// Start listens on the socket, removing a stale socket file first, as
// osquery does on start. Registrations from a previous run are forgotten.
func (m *Manager) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listener != nil {
		return errors.New("start fake osquery manager: already listening")
	}
	_ = os.Remove(m.path)
	l, err := net.Listen("unix", m.path)
	if err != nil {
		return fmt.Errorf("start fake osquery manager on %s: %w", m.path, err)
	}
	m.listener = l
	m.conns = map[net.Conn]bool{}
	m.exts = map[osquery.ExtensionRouteUUID]*Extension{}
	m.notifyLocked()

	m.wg.Add(1)
	go m.accept(l)
	return nil
}

// Stop makes osquery go away: it stops listening, drops every open
// connection and removes the socket, then waits for its goroutines.
func (m *Manager) Stop() {
	m.mu.Lock()
	l := m.listener
	m.listener = nil
	for c := range m.conns {
		_ = c.Close()
	}
	m.exts = map[osquery.ExtensionRouteUUID]*Extension{}
	m.notifyLocked()
	m.mu.Unlock()

	if l != nil {
		_ = l.Close()
	}
	m.wg.Wait()
	_ = os.Remove(m.path)
}

func (m *Manager) accept(l net.Listener) {
	defer m.wg.Done()
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		if m.listener != l {
			m.mu.Unlock()
			_ = conn.Close()
			return
		}
		m.conns[conn] = true
		m.wg.Add(1)
		m.mu.Unlock()
		go m.serve(conn)
	}
}

// serve answers one extension connection until it closes. osquery keeps
// the extension's client connection open and answers requests in order.
func (m *Manager) serve(conn net.Conn) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.conns, conn)
		m.mu.Unlock()
		_ = conn.Close()
	}()

	trans := thrift.NewTSocketFromConnConf(conn, nil)
	proto := thrift.NewTBinaryProtocolConf(trans, nil)
	proc := osquery.NewExtensionManagerProcessor(handler{m})
	for {
		ok, err := proc.Process(context.Background(), proto, proto)
		if err != nil || !ok {
			return
		}
	}
}

func (m *Manager) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// WaitExtension waits until an extension named name is registered and
// accepts connections on its socket, and returns it. osquery-go extensions
// register first and listen after, so registration alone is not enough.
func (m *Manager) WaitExtension(ctx context.Context, name string) (Extension, error) {
	for {
		m.mu.Lock()
		for _, e := range m.exts {
			if e.Name == name {
				ext := *e
				m.mu.Unlock()
				return ext, m.waitListening(ctx, ext)
			}
		}
		ch := m.changed
		m.mu.Unlock()

		select {
		case <-ctx.Done():
			return Extension{}, fmt.Errorf("wait for extension %q to register: %w", name, ctx.Err())
		case <-ch:
		}
	}
}

func (m *Manager) waitListening(ctx context.Context, ext Extension) error {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", m.extensionSocket(ext.UUID))
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for extension %q to listen: %w", ext.Name, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// WaitGone waits until no extension named name is registered.
func (m *Manager) WaitGone(ctx context.Context, name string) error {
	for {
		m.mu.Lock()
		found := false
		for _, e := range m.exts {
			found = found || e.Name == name
		}
		ch := m.changed
		m.mu.Unlock()
		if !found {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for extension %q to deregister: %w", name, ctx.Err())
		case <-ch:
		}
	}
}

// Registrations returns how many registerExtension calls succeeded since
// the manager was created.
func (m *Manager) Registrations() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.registers
}

// Pings returns how many pings extensions sent.
func (m *Manager) Pings() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pings
}

// tableOwner returns the extension serving table name.
func (m *Manager) tableOwner(name string) (*Extension, Table, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.exts {
		if t, ok := e.Tables[name]; ok {
			return e, t, nil
		}
	}
	return nil, Table{}, fmt.Errorf("no such table: %s", name)
}

// extensionSocket is where osquery-go extensions listen: the manager's
// socket path with the extension's UUID appended.
func (m *Manager) extensionSocket(uuid osquery.ExtensionRouteUUID) string {
	return m.path + "." + strconv.FormatInt(int64(uuid), 10)
}

// handler implements the ExtensionManager Thrift service.
type handler struct{ m *Manager }

var _ osquery.ExtensionManager = handler{}

func ok() *osquery.ExtensionStatus { return &osquery.ExtensionStatus{Code: 0, Message: "OK"} }

func (h handler) Ping(context.Context) (*osquery.ExtensionStatus, error) {
	h.m.mu.Lock()
	h.m.pings++
	h.m.mu.Unlock()
	return ok(), nil
}

func (h handler) Call(_ context.Context, registry, item string, _ osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 1, Message: "fake manager has no core plugin " + registry + "/" + item}}, nil
}

func (h handler) Shutdown(context.Context) error { return nil }

func (h handler) Extensions(context.Context) (osquery.InternalExtensionList, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	out := osquery.InternalExtensionList{}
	for id, e := range h.m.exts {
		out[id] = &osquery.InternalExtensionInfo{Name: e.Name}
	}
	return out, nil
}

func (h handler) Options(context.Context) (osquery.InternalOptionList, error) {
	return osquery.InternalOptionList{}, nil
}

// RegisterExtension checks the routes the way osquery does: every table
// must describe its columns, and a table name already served by another
// extension is rejected.
func (h handler) RegisterExtension(_ context.Context, info *osquery.InternalExtensionInfo, reg osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
	tables := map[string]Table{}
	for name, routes := range reg["table"] {
		t := Table{Name: name}
		for _, r := range routes {
			if r["id"] != "column" {
				continue
			}
			op, _ := strconv.Atoi(r["op"])
			t.Columns = append(t.Columns, Column{Name: r["name"], Type: r["type"], Op: op})
		}
		if len(t.Columns) == 0 {
			return &osquery.ExtensionStatus{Code: 1, Message: "Invalid route info for table " + name}, nil
		}
		tables[name] = t
	}

	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	for _, e := range h.m.exts {
		for name := range tables {
			if _, dup := e.Tables[name]; dup {
				return &osquery.ExtensionStatus{Code: 1, Message: "Duplicate registry item: " + name}, nil
			}
		}
	}
	h.m.nextUUID++
	id := h.m.nextUUID
	h.m.exts[id] = &Extension{UUID: id, Name: info.GetName(), Tables: tables}
	h.m.registers++
	h.m.notifyLocked()
	return &osquery.ExtensionStatus{Code: 0, Message: "OK", UUID: id}, nil
}

func (h handler) DeregisterExtension(_ context.Context, id osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if _, found := h.m.exts[id]; !found {
		return &osquery.ExtensionStatus{Code: 1, Message: "No extension UUID registered"}, nil
	}
	delete(h.m.exts, id)
	h.m.notifyLocked()
	return ok(), nil
}

func (h handler) Query(context.Context, string) (*osquery.ExtensionResponse, error) {
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 1, Message: "the fake manager runs no SQL"}}, nil
}

func (h handler) GetQueryColumns(context.Context, string) (*osquery.ExtensionResponse, error) {
	return h.Query(context.Background(), "")
}

// TableNames lists the tables registered by all extensions, sorted.
func (m *Manager) TableNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.exts {
		for n := range e.Tables {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
