// Package vttest is a fake VirusTotal API v3 server for tests and demos. It
// serves a folder of real-shaped JSON, synthesises plausible objects for
// unknown ids, enforces a per-minute limit and a daily quota the way
// VirusTotal does, injects faults on request and records every request. It
// listens on loopback unless its caller passes another address to Listen.
package vttest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// APIPrefix is the path prefix of every API route; URL ends with it.
const APIPrefix = "/api/v3"

// Options configure a Server. With only Synthesize set it serves
// synthesised objects, and with nothing set it responds 404 to everything.
type Options struct {
	// FixturesDir is a folder of VirusTotal JSON. Its INDEX.tsv, when
	// present, maps requests to files; other JSON files holding one object
	// are served by the object's id.
	FixturesDir string
	// Synthesize serves unknown files, IPs, domains and URLs with plausible
	// objects derived from Seed and the id, so runs repeat.
	Synthesize bool
	// Seed varies the synthesised objects.
	Seed int64
	// RPM is the per-minute request limit over a sliding 60 s window
	// (0 = none). Requests beyond it get 429 QuotaExceededError.
	RPM int
	// DailyQuota is the request limit per UTC day of Clock (0 = none).
	DailyQuota int
	// Clock is the time source for the limits and the request log
	// (default time.Now).
	Clock func() time.Time
	// APIKey, when set, is the only key accepted: a missing key gets 401
	// AuthenticationRequiredError, another key 401 WrongCredentialsError.
	APIKey string
	// Latency delays every response, in real time.
	Latency time.Duration
	// Logger receives one Debug record per request (default: discard).
	Logger *slog.Logger
}

// Request is one request the server received.
type Request struct {
	Method string
	Path   string // relative to APIPrefix, unescaped, without the query
	Query  string
	Time   time.Time // from Options.Clock
	Status int       // the status sent, or 0 for a reset connection
	Fault  string    // the injected fault kind, empty for a normal response
}

// Server is a fake VirusTotal. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	mu          sync.Mutex
	routes      map[string]route
	faultBodies map[string]route
	faults      []*Fault
	requests    []Request
	window      []time.Time    // accepted request times inside the last 60 s
	daily       map[string]int // accepted requests per UTC day
	seen        int            // requests received, for Fault.Nth

	srv      *http.Server
	ts       *httptest.Server // set by StartTLS instead of srv
	ln       net.Listener
	done     chan struct{}
	loadErr  error
	closeOne sync.Once
}

// New returns a Server that is not yet listening. Fixture errors are
// reported by Start and Listen.
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		routes:      map[string]route{},
		faultBodies: map[string]route{},
		daily:       map[string]int{},
		done:        make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.FixturesDir != "" {
		s.loadErr = s.loadFixtures(opts.FixturesDir)
	}
	return s
}

// Start listens on a free port of 127.0.0.1.
func (s *Server) Start() error { return s.Listen("127.0.0.1:0") }

// Listen serves on addr. Refusing non-loopback addresses is the caller's
// job (cmd/vex-vtfake does it), so that tests can bind where they need.
func (s *Server) Listen(addr string) error {
	if s.loadErr != nil {
		return fmt.Errorf("load fixtures from %s: %w", s.opts.FixturesDir, s.loadErr)
	}
	if s.ln != nil {
		return errors.New("fake virustotal is already listening")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// StartTLS listens on a free port of 127.0.0.1 with HTTPS and a
// self-signed certificate. TLSClient returns a client that trusts it.
func (s *Server) StartTLS() error {
	if s.loadErr != nil {
		return fmt.Errorf("load fixtures from %s: %w", s.opts.FixturesDir, s.loadErr)
	}
	if s.ln != nil {
		return errors.New("fake virustotal is already listening")
	}
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.StartTLS()
	s.ln = s.ts.Listener
	return nil
}

// TLSClient returns an *http.Client that trusts the certificate of a
// server started with StartTLS, or nil for a plain HTTP server.
func (s *Server) TLSClient() *http.Client {
	if s.ts == nil {
		return nil
	}
	return s.ts.Client()
}

// URL returns the API base URL, such as http://127.0.0.1:41234/api/v3.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	scheme := "http://"
	if s.ts != nil {
		scheme = "https://"
	}
	return scheme + s.ln.Addr().String() + APIPrefix
}

// Close stops the server, ends slow responses in flight and closes every
// connection.
func (s *Server) Close() error {
	var err error
	s.closeOne.Do(func() {
		close(s.done)
		if s.srv != nil {
			err = s.srv.Close()
		}
		if s.ts != nil {
			s.ts.CloseClientConnections()
			s.ts.Close()
		}
	})
	return err
}

// Routes returns the number of fixture routes loaded.
func (s *Server) Routes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.routes)
}

// Requests returns a copy of the request log in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests had a path starting with pathPrefix
// ("" counts all). Rejected and faulted requests count too, as they do
// against a real key.
func (s *Server) Count(pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// ResetRequests clears the request log, the rate window and the daily
// counts, but keeps routes and faults.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.window = nil
	s.daily = map[string]int{}
	s.seen = 0
}

// FaultBody returns the status and body of a FAULT row of INDEX.tsv by its
// name (the path column, e.g. "429 quota").
func (s *Server) FaultBody(name string) (status int, body []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.faultBodies[name]
	return r.status, r.body, ok
}
