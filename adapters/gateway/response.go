package gateway

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Cache outcomes, sent in the X-Vex-Cache header and used as metric labels.
const (
	sourceHit    = "hit"    // fresh entry in the cache
	sourceMiss   = "miss"   // this request went upstream
	sourceShared = "shared" // served by another request's upstream call
	sourceStale  = "stale"  // expired entry served because upstream failed
	sourceNone   = "none"   // rejected before any lookup
)

// response is the status, body and Retry-After of an API response. It is
// also the note a fetch-lock holder leaves for waiters on other replicas
// when the result is not in the cache, hence the JSON tags.
type response struct {
	Status     int           `json:"status"`
	Body       []byte        `json:"body"`
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	source     string
	// fetchedAt is when a cached response came from VirusTotal. It is sent
	// as the Age header (RFC 9111), so clients date and expire their copy.
	fetchedAt time.Time
}

func (a response) encode() []byte {
	b, _ := json.Marshal(a)
	return b
}

func decodeResponse(note []byte) (response, bool) {
	var a response
	if json.Unmarshal(note, &a) != nil || a.Status < 100 || a.Status > 599 {
		return response{}, false
	}
	return a, true
}

// write sends a with the headers every API response carries.
func (a response) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	h.Set("X-Vex-Cache", a.source)
	if a.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(a.RetryAfter.Seconds())), 10))
	}
	if !a.fetchedAt.IsZero() {
		h.Set("Age", strconv.FormatInt(int64(max(0, time.Since(a.fetchedAt).Seconds())), 10))
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// apiError is an error response in VirusTotal's shape,
// {"error":{"code":...,"message":...}}, so vex clients classify it the way
// they classify VirusTotal's own.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
}

func (e *apiError) response(source string) response {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
	return response{Status: e.status, Body: body, RetryAfter: e.retryAfter, source: source}
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadRequestError", message: fmt.Sprintf(format, args...)}
}

// Errors the gateway responds with by itself.
var (
	errMissingToken = &apiError{status: http.StatusUnauthorized, code: "AuthenticationRequiredError",
		message: "X-Apikey header is missing: send your vex gateway token, not a VirusTotal key"}
	errWrongToken = &apiError{status: http.StatusUnauthorized, code: "WrongCredentialsError",
		message: "the vex gateway token is not valid"}
	// errUpstreamKey hides the gateway's own credential problem from
	// clients: a 401 would tell them their token is wrong, so they get a
	// 502, which vex clients report as a failed lookup without retrying.
	errUpstreamKey = &apiError{status: http.StatusBadGateway, code: "UpstreamAuthenticationError",
		message: "VirusTotal rejected the gateway's API key; the gateway operator must fix it"}
)

// notFound is VirusTotal's NotFoundError for an object or relationship.
func notFound(r resource) *apiError {
	kinds := map[string]string{"files": "File", "ip_addresses": "IP address", "domains": "Domain", "urls": "URL"}
	return &apiError{status: http.StatusNotFound, code: "NotFoundError", message: fmt.Sprintf("%s %q not found", kinds[r.collection], r.id)}
}
