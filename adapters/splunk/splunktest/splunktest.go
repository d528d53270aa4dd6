// Package splunktest runs a fake splunkd on 127.0.0.1 for tests: the
// storage/passwords and KV store endpoints the vex command calls, with
// session-key checks, failure injection and a request log.
package splunktest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Credential is one storage/passwords entry.
type Credential struct {
	Realm    string
	Username string
	Password string
}

// Options configure a Server.
type Options struct {
	App         string       // the app namespace served; default TA-vex
	SessionKey  string       // the only session key accepted
	Credentials []Credential // storage/passwords content
	// Collections are the KV store collections that exist.
	Collections []string
	// KVStatus, when set, is returned by every KV store data call, e.g.
	// 503 for a KV store that is not ready.
	KVStatus int
	// PlainHTTP serves http instead of https.
	PlainHTTP bool
}

// Server is a fake splunkd.
type Server struct {
	srv *httptest.Server
	opt Options

	mu       sync.Mutex
	requests []string
	kv       map[string]map[string]json.RawMessage // collection -> _key -> document
}

// New starts a fake splunkd and stops it when the test ends.
func New(t testing.TB, opt Options) *Server {
	t.Helper()
	if opt.App == "" {
		opt.App = "TA-vex"
	}
	s := &Server{opt: opt, kv: make(map[string]map[string]json.RawMessage)}
	for _, c := range opt.Collections {
		s.kv[c] = make(map[string]json.RawMessage)
	}
	if opt.PlainHTTP {
		s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	} else {
		s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	}
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL, the value of splunkd_uri in getinfo.
func (s *Server) URL() string { return s.srv.URL }

// Server returns the underlying httptest server, whose Certificate and
// Client trust the fake's TLS certificate.
func (s *Server) Server() *httptest.Server { return s.srv }

// Requests returns "METHOD path" for every request so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Count returns how many requests had a path ending in suffix.
func (s *Server) Count(suffix string) int {
	n := 0
	for _, r := range s.Requests() {
		if strings.HasSuffix(r, suffix) {
			n++
		}
	}
	return n
}

// Documents returns the number of documents in a collection.
func (s *Server) Documents(collection string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.kv[collection])
}

// UnreachableURL returns an https URL on 127.0.0.1 where nothing listens.
func UnreachableURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()

	if r.Header.Get("Authorization") != "Splunk "+s.opt.SessionKey || s.opt.SessionKey == "" {
		fail(w, http.StatusUnauthorized, "call not properly authenticated")
		return
	}
	prefix := "/servicesNS/nobody/" + s.opt.App + "/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		fail(w, http.StatusNotFound, "unknown namespace")
		return
	}
	switch {
	case rest == "storage/passwords" && r.Method == http.MethodGet:
		s.passwords(w)
	case strings.HasPrefix(rest, "storage/collections/config/") && r.Method == http.MethodGet:
		name := strings.TrimPrefix(rest, "storage/collections/config/")
		s.mu.Lock()
		_, exists := s.kv[name]
		s.mu.Unlock()
		if !exists {
			fail(w, http.StatusNotFound, "collection not found")
			return
		}
		writeJSON(w, map[string]any{"entry": []map[string]string{{"name": name}}})
	case strings.HasPrefix(rest, "storage/collections/data/") && r.Method == http.MethodPost:
		s.kvData(w, r, strings.TrimPrefix(rest, "storage/collections/data/"))
	default:
		fail(w, http.StatusNotFound, "unknown endpoint "+rest)
	}
}

func (s *Server) passwords(w http.ResponseWriter) {
	type content struct {
		Realm         string `json:"realm"`
		Username      string `json:"username"`
		ClearPassword string `json:"clear_password"`
	}
	var entries []map[string]any
	for _, c := range s.opt.Credentials {
		entries = append(entries, map[string]any{
			"name":    c.Realm + ":" + c.Username + ":",
			"content": content{Realm: c.Realm, Username: c.Username, ClearPassword: c.Password},
		})
	}
	writeJSON(w, map[string]any{"entry": entries})
}

func (s *Server) kvData(w http.ResponseWriter, r *http.Request, rest string) {
	if s.opt.KVStatus != 0 {
		fail(w, s.opt.KVStatus, "KV Store is initializing")
		return
	}
	collection, op, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	docs, ok := s.kv[collection]
	s.mu.Unlock()
	if !ok {
		fail(w, http.StatusNotFound, "collection not found")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}

	switch op {
	case "batch_find":
		var queries []struct {
			Query map[string]string `json:"query"`
		}
		if err := json.Unmarshal(body, &queries); err != nil {
			fail(w, http.StatusBadRequest, "invalid batch_find body")
			return
		}
		answers := make([][]json.RawMessage, len(queries))
		s.mu.Lock()
		for i, q := range queries {
			answers[i] = []json.RawMessage{}
			if d, ok := docs[q.Query["_key"]]; ok {
				answers[i] = append(answers[i], d)
			}
		}
		s.mu.Unlock()
		writeJSON(w, answers)
	case "batch_save":
		var list []json.RawMessage
		if err := json.Unmarshal(body, &list); err != nil {
			fail(w, http.StatusBadRequest, "invalid batch_save body")
			return
		}
		keys := make([]string, 0, len(list))
		s.mu.Lock()
		for _, d := range list {
			var k struct {
				Key string `json:"_key"`
			}
			if json.Unmarshal(d, &k) != nil || k.Key == "" {
				s.mu.Unlock()
				fail(w, http.StatusBadRequest, "document without _key")
				return
			}
			docs[k.Key] = d
			keys = append(keys, k.Key)
		}
		s.mu.Unlock()
		writeJSON(w, keys)
	default:
		fail(w, http.StatusNotFound, "unknown KV store operation "+op)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fail writes splunkd's error body: {"messages":[{"type":"ERROR","text":..}]}.
func fail(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"messages": []map[string]string{{"type": "ERROR", "text": text}}})
}
