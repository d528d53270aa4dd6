package osquery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/apache/thrift/lib/go/thrift"
	osq "github.com/osquery/osquery-go"
	"github.com/osquery/osquery-go/gen/osquery"
)

// replyBuffer is the size of the Thrift write and read buffers of one
// osquery connection. A reply larger than that goes out in several writes.
const replyBuffer = 64 << 10

// extensionServer registers plugins with osquery and serves osquery's calls
// to them on the extension socket. It does what osquery-go's
// ExtensionManagerServer does, except that it buffers each connection as
// osqueryd's own extension server does (TBufferedTransportFactory in
// osquery/extensions/impl_thrift.cpp). osquery-go writes each Thrift field
// with its own write(2), which for a vex_triage reply of 1,000 rows is
// about 70,000 system calls.
type extensionServer struct {
	name    string
	version string
	socket  string // osquery's extension manager socket
	client  *osq.ExtensionManagerClient
	plugins map[string]map[string]osq.OsqueryPlugin // by registry, then name

	mu         sync.Mutex
	uuid       osquery.ExtensionRouteUUID
	registered bool
	server     *thrift.TSimpleServer
	stopped    bool
}

var _ osquery.Extension = (*extensionServer)(nil)

func newExtensionServer(name, version, socket string, client *osq.ExtensionManagerClient, plugins []osq.OsqueryPlugin) (*extensionServer, error) {
	// osquery appends ".<uuid>" to the socket path for the extension's
	// own socket, which must stay within the 104 bytes of sun_path.
	if len(socket) > osq.MaxSocketPathCharacters {
		return nil, fmt.Errorf("socket path %s is %d characters long; use one of at most %d", socket, len(socket), osq.MaxSocketPathCharacters)
	}
	s := &extensionServer{name: name, version: version, socket: socket, client: client,
		plugins: make(map[string]map[string]osq.OsqueryPlugin)}
	for _, p := range plugins {
		if s.plugins[p.RegistryName()] == nil {
			s.plugins[p.RegistryName()] = make(map[string]osq.OsqueryPlugin)
		}
		s.plugins[p.RegistryName()][p.Name()] = p
	}
	return s, nil
}

// Start registers the plugins with osquery and serves osquery's calls until
// Shutdown, when it returns nil. A rejected registration or a socket that
// cannot be served is an error.
func (s *extensionServer) Start() error {
	server, err := s.register()
	if err != nil {
		return err
	}
	if err := server.Serve(); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return errors.Join(fmt.Errorf("serve extension %s: %w", s.name, err), s.deregister(context.Background()))
	}
	return nil
}

func (s *extensionServer) register() (*thrift.TSimpleServer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, errors.New("extension server already shut down")
	}

	registry := osquery.ExtensionRegistry{}
	for reg, byName := range s.plugins {
		routes := osquery.ExtensionRouteTable{}
		for name, p := range byName {
			routes[name] = p.Routes()
		}
		registry[reg] = routes
	}
	stat, err := s.client.RegisterExtension(&osquery.InternalExtensionInfo{Name: s.name, Version: s.version}, registry)
	if err != nil {
		return nil, fmt.Errorf("register extension %s: %w", s.name, err)
	}
	if stat.Code != 0 {
		return nil, fmt.Errorf("osquery rejected extension %s: status %d: %s", s.name, stat.Code, stat.Message)
	}
	s.uuid, s.registered = stat.UUID, true

	path := fmt.Sprintf("%s.%d", s.socket, stat.UUID)
	addr, err := net.ResolveUnixAddr("unix", path)
	if err != nil {
		s.deregister(context.Background())
		return nil, fmt.Errorf("extension socket %s: %w", path, err)
	}
	s.server = thrift.NewTSimpleServer4(osquery.NewExtensionProcessor(s), thrift.NewTServerSocketFromAddrTimeout(addr, 0),
		thrift.NewTBufferedTransportFactory(replyBuffer), thrift.NewTBinaryProtocolFactoryConf(nil))
	return s.server, nil
}

// deregister removes the extension from osquery's registry. The caller
// holds s.mu.
func (s *extensionServer) deregister(ctx context.Context) error {
	if !s.registered {
		return nil
	}
	s.registered = false
	stat, err := s.client.DeregisterExtensionContext(ctx, s.uuid)
	if err != nil {
		return fmt.Errorf("deregister extension %s: %w", s.name, err)
	}
	if stat.Code != 0 {
		return fmt.Errorf("deregister extension %s: status %d: %s", s.name, stat.Code, stat.Message)
	}
	return nil
}

// Shutdown deregisters the extension and stops the server, which makes
// Start return nil. osquery calls it over Thrift when it exits. The server
// stops in the background, because stopping waits for the open
// connections, one of which may be the one carrying this call.
func (s *extensionServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	err := s.deregister(ctx)
	if s.server != nil {
		server := s.server
		s.server = nil
		go server.Stop()
	}
	return err
}

// Ping returns status OK to osquery's health check.
func (s *extensionServer) Ping(context.Context) (*osquery.ExtensionStatus, error) {
	return &osquery.ExtensionStatus{Code: 0, Message: "OK"}, nil
}

// Call routes osquery's call to the plugin it names.
func (s *extensionServer) Call(ctx context.Context, registry, item string, request osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	p, ok := s.plugins[registry][item]
	if !ok {
		return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{
			Code: 1, Message: fmt.Sprintf("extension %s has no %s plugin %q", s.name, registry, item),
		}}, nil
	}
	resp := p.Call(ctx, request)
	return &resp, nil
}
