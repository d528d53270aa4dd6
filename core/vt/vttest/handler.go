package vttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

var jsonMarshal = json.Marshal

// ServeHTTP handles one API request. It checks the key, then the rate
// limits, then serves an injected fault if one matches, and otherwise the
// fixture or synthesised response.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, APIPrefix)
	if !ok || path == "" {
		path = r.URL.Path
	}

	s.mu.Lock()
	s.seen++
	nth := s.seen
	now := s.opts.Clock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: path, Query: r.URL.RawQuery, Time: now})
	status, body, retryAfter := s.admit(r, now)
	fault, faulted := Fault{}, false
	if status == 0 {
		fault, faulted = s.takeFault(path, nth)
	}
	s.mu.Unlock()

	if s.opts.Latency > 0 && !s.wait(r, s.opts.Latency) {
		s.record(idx, 0, "")
		return
	}

	faultName := ""
	switch {
	case status != 0:
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, status, body)
	case !ok:
		// Like a web server outside the API: a plain 404 with no
		// VirusTotal error code, as a wrong base URL would get.
		status = http.StatusNotFound
		http.Error(w, "404 page not found: the API lives under "+APIPrefix, status)
	case r.Method != http.MethodGet:
		status = http.StatusMethodNotAllowed
		writeJSON(w, status, ErrorBody("BadRequestError", "method not allowed: the fake virustotal serves GET only"))
	default:
		status, body = s.answer(r, path)
		if faulted {
			faultName = fault.Kind.String()
			status = s.serveFault(w, r, fault, body, status)
		} else {
			writeJSON(w, status, body)
		}
	}
	s.record(idx, status, faultName)
	s.log.Debug("fake virustotal request", "method", r.Method, "path", path, "status", status, "fault", faultName)
}

func (s *Server) record(idx, status int, fault string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx < len(s.requests) {
		s.requests[idx].Status = status
		s.requests[idx].Fault = fault
	}
}

// admit checks the key and the limits, counting the request when it is
// let through. A non-zero status is the rejection to send. The caller
// holds s.mu.
func (s *Server) admit(r *http.Request, now time.Time) (status int, body []byte, retryAfter string) {
	if s.opts.APIKey != "" {
		switch key := r.Header.Get("x-apikey"); {
		case key == "":
			return http.StatusUnauthorized, ErrorBody("AuthenticationRequiredError", "X-Apikey header is missing"), ""
		case key != s.opts.APIKey:
			return http.StatusUnauthorized, ErrorBody("WrongCredentialsError", "The provided API key is incorrect."), ""
		}
	}

	// Sliding window: only requests of the last 60 s count.
	cut := now.Add(-time.Minute)
	keep := s.window[:0]
	for _, t := range s.window {
		if t.After(cut) {
			keep = append(keep, t)
		}
	}
	s.window = keep
	if s.opts.RPM > 0 && len(s.window) >= s.opts.RPM {
		return http.StatusTooManyRequests, ErrorBody("QuotaExceededError",
			fmt.Sprintf("Quota exceeded: more than %d requests per minute", s.opts.RPM)), ""
	}
	day := now.UTC().Format(time.DateOnly)
	if s.opts.DailyQuota > 0 && s.daily[day] >= s.opts.DailyQuota {
		midnight := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		return http.StatusTooManyRequests, ErrorBody("QuotaExceededError",
				fmt.Sprintf("Quota exceeded: daily quota of %d requests used", s.opts.DailyQuota)),
			fmt.Sprint(int64(midnight.Sub(now).Seconds()) + 1)
	}
	s.window = append(s.window, now)
	s.daily[day]++
	return 0, nil, ""
}

// wait sleeps d unless the request or the server ends first. It reports
// whether the full time passed.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// objectKinds names the object in VirusTotal's not-found message.
var objectKinds = map[string]string{
	"files": "File", "ip_addresses": "IP address", "domains": "Domain", "urls": "URL",
}

// answer returns the response status and body for a GET of path.
func (s *Server) answer(r *http.Request, path string) (int, []byte) {
	s.mu.Lock()
	rt, found := s.routes[path]
	s.mu.Unlock()
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")

	if found {
		// Fixtures contain the first page only. A cursor requests a later
		// page, so the response is an empty last page and paging ends.
		if len(segs) == 3 && r.URL.Query().Get("cursor") != "" && rt.status == http.StatusOK {
			return http.StatusOK, emptyCollection(path)
		}
		return rt.status, rt.body
	}

	kind, known := objectKinds[segs[0]]
	if !known || len(segs) < 2 || len(segs) > 3 || segs[1] == "" {
		return http.StatusNotFound, ErrorBody("NotFoundError", fmt.Sprintf("Resource %q not found", path))
	}
	id := segs[1]
	notFound := ErrorBody("NotFoundError", fmt.Sprintf("%s %q not found", kind, id))

	s.mu.Lock()
	_, parentKnown := s.routes["/"+segs[0]+"/"+id]
	s.mu.Unlock()
	synth := s.opts.Synthesize

	if len(segs) == 2 {
		if !synth {
			return http.StatusNotFound, notFound
		}
		body, err := s.synthObject(segs[0], id)
		if err != nil {
			return http.StatusBadRequest, ErrorBody("BadRequestError", err.Error())
		}
		return http.StatusOK, body
	}

	if !parentKnown && !synth {
		return http.StatusNotFound, notFound
	}
	if !parentKnown {
		// Validate the id the way an object lookup would.
		if _, err := s.synthObject(segs[0], id); err != nil {
			return http.StatusBadRequest, ErrorBody("BadRequestError", err.Error())
		}
	}
	switch rel := segs[2]; {
	case segs[0] == "files" && rel == "behaviour_summary":
		if !synth {
			return http.StatusNotFound, notFound
		}
		return http.StatusOK, s.synthBehaviourSummary(id)
	case segs[0] == "files" && rel == "behaviour_mitre_trees":
		if !synth {
			return http.StatusNotFound, notFound
		}
		return http.StatusOK, []byte(`{"data": {}}`)
	case synth:
		return http.StatusOK, s.synthRelationship(segs[0], id, rel)
	}
	return http.StatusOK, emptyCollection(path)
}

func emptyCollection(path string) []byte {
	b, _ := jsonMarshal(map[string]any{
		"data":  []any{},
		"meta":  map[string]any{"count": 0},
		"links": map[string]string{"self": "https://www.virustotal.com" + APIPrefix + path},
	})
	return b
}
