package vttest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// FaultKind selects how an injected fault misbehaves.
type FaultKind int

const (
	// Status responds with Fault.Status and Fault.Body, or with a VirusTotal
	// error body for that status when Body is nil.
	Status FaultKind = iota
	// Slow sends the headers and half the normal body, then stalls for
	// Fault.Delay (default 1 minute) before the rest.
	Slow
	// Truncated announces the full Content-Length of the normal body but
	// closes the connection half way.
	Truncated
	// Malformed responds 200 with JSON cut off in the middle.
	Malformed
	// HTML responds with Fault.Status (default 502) and an HTML error page,
	// as a proxy or load balancer would.
	HTML
	// Reset closes the connection without a response.
	Reset
	// WrongShape responds 200 with valid JSON of the wrong shape.
	WrongShape
)

var faultNames = [...]string{"status", "slow", "truncated", "malformed", "html", "reset", "wrong_shape"}

func (k FaultKind) String() string {
	if k < 0 || int(k) >= len(faultNames) {
		return fmt.Sprintf("fault(%d)", int(k))
	}
	return faultNames[k]
}

// Fault is a misbehaviour injected with Server.Inject. A request matches
// when every set condition holds; the first matching fault wins.
type Fault struct {
	// Match is a substring of the request path (relative to /api/v3,
	// unescaped, e.g. "/files/44e6" or "8.8.8.8") or, for /urls/{id}
	// paths, of the URL the id encodes. Empty matches any path.
	Match string
	// Nth, when > 0, matches only the Nth request the server receives
	// (1-based, counting every request, before auth and rate checks).
	Nth int
	// Kind is the misbehaviour.
	Kind FaultKind
	// Status is the HTTP status for Status and HTML faults.
	Status int
	// RetryAfter, when > 0, is sent as Retry-After in whole seconds.
	RetryAfter time.Duration
	// RetryAfterHeader, when set, is sent verbatim as Retry-After (for
	// HTTP dates and invalid values).
	RetryAfterHeader string
	// Body replaces the response body of Status and HTML faults.
	Body []byte
	// Delay is how long a Slow fault stalls.
	Delay time.Duration
	// Times is how many requests the fault affects; 0 means all.
	Times int

	used int
}

// Inject adds a fault. Faults are checked in the order injected.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns a copy of the first fault matching the nth request to
// path and counts its use. The caller holds s.mu.
func (s *Server) takeFault(path string, nth int) (Fault, bool) {
	for _, f := range s.faults {
		if f.Times > 0 && f.used >= f.Times {
			continue
		}
		if f.Nth > 0 && f.Nth != nth {
			continue
		}
		if f.Match != "" && !strings.Contains(path, f.Match) && !strings.Contains(urlOfPath(path), f.Match) {
			continue
		}
		f.used++
		return *f, true
	}
	return Fault{}, false
}

// errorCodes are VirusTotal's error codes by status, used for injected
// status faults without a body.
var errorCodes = map[int]string{
	400: "BadRequestError",
	401: "WrongCredentialsError",
	403: "ForbiddenError",
	404: "NotFoundError",
	409: "AlreadyExistsError",
	424: "FailedDependencyError",
	429: "QuotaExceededError",
	503: "TransientError",
	504: "DeadlineExceededError",
}

// ErrorBody returns a VirusTotal error body.
func ErrorBody(code, message string) []byte {
	b, _ := jsonMarshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return b
}

// serveFault writes f's misbehaviour. normal is the body the request would
// have had, used by Slow and Truncated. It returns the status sent (0 when
// the connection was dropped).
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f Fault, normal []byte, normalStatus int) int {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int64((f.RetryAfter+time.Second-1)/time.Second)))
	}
	if f.RetryAfterHeader != "" {
		w.Header().Set("Retry-After", f.RetryAfterHeader)
	}

	switch f.Kind {
	case Status:
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		body := f.Body
		if body == nil {
			code := errorCodes[status]
			body = ErrorBody(code, "injected fault: "+strings.ToLower(http.StatusText(status)))
			if code == "" {
				body = ErrorBody("", strings.ToLower(http.StatusText(status)))
			}
		}
		writeJSON(w, status, body)
		return status

	case HTML:
		status := f.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		body := f.Body
		if body == nil {
			body = fmt.Appendf(nil, "<html><head><title>%d %s</title></head><body><h1>%s</h1></body></html>\n",
				status, http.StatusText(status), http.StatusText(status))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return status

	case Malformed:
		writeJSON(w, http.StatusOK, []byte(`{"data": {"type": "file", "id": "0123", "attributes": {"last_analysis_stats": {"malicious": 1`))
		return http.StatusOK

	case WrongShape:
		writeJSON(w, http.StatusOK, []byte(`{"data": "not an object", "items": [1, 2, 3]}`))
		return http.StatusOK

	case Reset:
		dropConnection(w, true)
		return 0

	case Truncated:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", fmt.Sprint(len(normal)))
		w.WriteHeader(normalStatus)
		_, _ = w.Write(normal[:len(normal)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		dropConnection(w, false)
		return normalStatus

	case Slow:
		delay := f.Delay
		if delay <= 0 {
			delay = time.Minute
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", fmt.Sprint(len(normal)))
		w.WriteHeader(normalStatus)
		_, _ = w.Write(normal[:len(normal)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if !s.wait(r, delay) {
			return normalStatus
		}
		_, _ = w.Write(normal[len(normal)/2:])
		return normalStatus
	}
	writeJSON(w, http.StatusInternalServerError, ErrorBody("", "unknown injected fault"))
	return http.StatusInternalServerError
}

// dropConnection closes the client connection without a complete response.
// With reset, linger 0 makes the close a TCP reset; otherwise the client
// sees a clean end of stream in the middle of the body.
func dropConnection(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(interface{ SetLinger(int) error }); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// urlOfPath returns the URL encoded in a /urls/{id} path, or "".
func urlOfPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/urls/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	u, _ := urlFromID(id)
	return u
}
