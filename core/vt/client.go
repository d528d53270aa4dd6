// Package vt is a VirusTotal API v3 client: object lookups, relationship
// lists and sandbox behaviour, with typed errors, bounded retries and a
// caller-supplied rate limiter. The API key travels only in the x-apikey
// header and is redacted from every error and log line.
package vt

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/secret"
)

// DefaultBaseURL is the public VirusTotal API v3 endpoint.
const DefaultBaseURL = "https://www.virustotal.com/api/v3"

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout      = 20 * time.Second
	DefaultMaxRetries   = 3
	DefaultMaxBodyBytes = 32 << 20
	DefaultUserAgent    = "vex/dev"
)

// Retry timing. A Retry-After longer than maxRetryAfter means the quota will
// not return soon (a spent daily quota, for one), so the client returns the
// error at once instead of holding the caller.
const (
	backoffBase          = 1 * time.Second
	backoffMax           = 30 * time.Second
	maxRetryAfter        = 60 * time.Second
	defaultRateLimitWait = 20 * time.Second
)

// Limiter paces requests. Wait blocks until one request may be sent or
// returns an error (a spent quota, a cancelled ctx).
type Limiter interface {
	Wait(ctx context.Context) error
}

// Config configures a Client. Zero fields take the defaults noted.
type Config struct {
	// BaseURL is the API root, such as DefaultBaseURL or a fake's URL. It
	// must be http or https and is required.
	BaseURL string
	// APIKey is sent in the x-apikey header. Empty sends no header.
	APIKey secret.String
	// HTTPClient sends the requests; nil means a new http.Client. Redirects
	// are refused unless the client sets its own CheckRedirect, because a
	// redirect would forward the key header to the new location.
	HTTPClient *http.Client
	// Timeout bounds each attempt, body included (default 20s).
	Timeout time.Duration
	// MaxRetries is how many times a failed request is retried (default 3;
	// negative means never).
	MaxRetries int
	// Limiter is waited on before every HTTP request, retries included.
	// Nil means no limit.
	Limiter Limiter
	// UserAgent is sent as User-Agent (default "vex/dev").
	UserAgent string
	// Logger receives one Debug record per HTTP attempt (default: discard).
	Logger *slog.Logger
	// Sleep waits between retries; tests replace it. The default returns
	// early with ctx.Err() when ctx ends.
	Sleep func(ctx context.Context, d time.Duration) error
	// RateLimitWait is the first wait after a 429 without Retry-After
	// (default 20s); each retry waits one step longer, up to 60s.
	RateLimitWait time.Duration
	// MaxBodyBytes caps a response body (default 32 MiB).
	MaxBodyBytes int64
}

// Client talks to VirusTotal API v3. It is safe for concurrent use.
type Client struct {
	base       string // without trailing slash
	key        secret.String
	hc         *http.Client
	timeout    time.Duration
	maxRetries int
	limiter    Limiter
	userAgent  string
	log        *slog.Logger
	sleep      func(context.Context, time.Duration) error
	maxBody    int64
	rateWait   time.Duration
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := checkBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:       base,
		key:        cfg.APIKey,
		timeout:    cfg.Timeout,
		maxRetries: cfg.MaxRetries,
		limiter:    cfg.Limiter,
		userAgent:  cfg.UserAgent,
		log:        cfg.Logger,
		sleep:      cfg.Sleep,
		maxBody:    cfg.MaxBodyBytes,
		rateWait:   cfg.RateLimitWait,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.rateWait <= 0 {
		c.rateWait = defaultRateLimitWait
	}

	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	c.hc = hc
	return c, nil
}

func checkBaseURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("virustotal base url is empty: set api.base_url, e.g. " + DefaultBaseURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid virustotal base url %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("invalid virustotal base url %q: scheme must be http or https", raw)
	case u.Host == "":
		return "", fmt.Errorf("invalid virustotal base url %q: host is missing", raw)
	case u.User != nil:
		// Credentials in the URL would show up in every *url.Error.
		return "", fmt.Errorf("invalid virustotal base url %q: user info is not allowed, the key goes in api.key", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("invalid virustotal base url %q: remove the query or fragment", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// URLID returns VirusTotal's identifier for a URL: its unpadded base64url
// encoding. The URL should be normalised first, so that equal URLs share one id.
func URLID(normalizedURL string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(normalizedURL))
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ObjectPath returns the escaped API path of an indicator, such as
// "/files/<hash>" or "/urls/<id>". value must be normalised; a URL is
// encoded with URLID unless it already is a 64-character hex URL id.
func ObjectPath(t ioc.Type, value string) (string, error) {
	if value == "" {
		return "", fmt.Errorf("build virustotal path for %s: value is empty", t)
	}
	collection, err := CollectionName(t)
	if err != nil {
		return "", err
	}
	id := value
	if t == ioc.URL && !sha256Hex.MatchString(value) {
		id = URLID(value)
	}
	return "/" + collection + "/" + url.PathEscape(id), nil
}

// CollectionName returns the API collection for an indicator type:
// files, ip_addresses, domains or urls.
func CollectionName(t ioc.Type) (string, error) {
	switch t {
	case ioc.MD5, ioc.SHA1, ioc.SHA256:
		return "files", nil
	case ioc.IPv4, ioc.IPv6:
		return "ip_addresses", nil
	case ioc.Domain:
		return "domains", nil
	case ioc.URL:
		return "urls", nil
	}
	return "", fmt.Errorf("no virustotal collection for ioc type %q", t)
}

// GetObject fetches the object for a normalised indicator with one request
// (more when retried). A missing object is an error matching ErrNotFound.
func (c *Client) GetObject(ctx context.Context, t ioc.Type, value string) (*Object, error) {
	o, _, err := c.GetObjectMeta(ctx, t, value)
	return o, err
}

// GetObjectMeta is GetObject that also returns what the response headers
// tell about the body's origin.
func (c *Client) GetObjectMeta(ctx context.Context, t ioc.Type, value string) (*Object, Meta, error) {
	path, err := ObjectPath(t, value)
	if err != nil {
		return nil, Meta{}, err
	}
	body, meta, err := c.GetMeta(ctx, path, nil)
	if err != nil {
		return nil, Meta{}, err
	}
	o, err := DecodeObject(body)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("get %s: %w", path, err)
	}
	return o, meta, nil
}

// Meta describes the origin of a 2xx response body, read from its headers.
// VirusTotal sends neither header; a vex serve gateway in front of it may.
type Meta struct {
	// Stale is set when a vex gateway returned an expired entry from
	// its cache (X-Vex-Cache: stale) because its upstream request failed.
	Stale bool
	// Age is the Age header (RFC 9111): how long ago the body was fetched
	// from VirusTotal. It is meaningful only when HasAge is set.
	Age    time.Duration
	HasAge bool
}

// metaOf reads Meta from response headers. An Age that is not a whole
// number of seconds is ignored.
func metaOf(h http.Header) Meta {
	m := Meta{Stale: strings.EqualFold(strings.TrimSpace(h.Get("X-Vex-Cache")), "stale")}
	if v := strings.TrimSpace(h.Get("Age")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 && secs <= maxAgeSeconds {
			m.Age, m.HasAge = time.Duration(secs)*time.Second, true
		}
	}
	return m
}

// maxAgeSeconds bounds the Age header to ten years, so that the conversion
// to a Duration cannot overflow.
const maxAgeSeconds = 10 * 365 * 24 * 3600

// Get sends GET base+path?query and returns the body of a 2xx response.
// path is already escaped and starts with "/". Errors are *Error for HTTP
// statuses, or wrap ErrTruncated, ErrBodyTooLarge, network and context errors.
func (c *Client) Get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	body, _, err := c.GetMeta(ctx, path, query)
	return body, err
}

// GetMeta is Get that also returns what the response headers tell about
// the body's origin.
func (c *Client) GetMeta(ctx context.Context, path string, query url.Values) ([]byte, Meta, error) {
	if err := checkPath(path); err != nil {
		return nil, Meta{}, err
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}

	for attempt := 0; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return nil, Meta{}, fmt.Errorf("wait for virustotal rate limit before %s: %w", path, err)
			}
		}
		body, meta, retryAfter, retry, err := c.once(ctx, target, path, attempt)
		if err == nil {
			return body, meta, nil
		}
		if !retry || attempt >= c.maxRetries || ctx.Err() != nil {
			return nil, Meta{}, err
		}
		if retryAfter > maxRetryAfter {
			return nil, Meta{}, err
		}

		delay := backoff(attempt, retryAfter)
		if retryAfter == 0 && errors.Is(err, ErrQuotaExceeded) {
			delay = rateLimitBackoff(attempt, c.rateWait)
		}
		c.log.DebugContext(ctx, "virustotal retry", "path", path, "attempt", attempt+1,
			"delay", delay, "error", err.Error())
		if serr := c.sleep(ctx, delay); serr != nil {
			return nil, Meta{}, fmt.Errorf("retry %s: %w (last error: %w)", path, serr, err)
		}
	}
}

func checkPath(path string) error {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
		return fmt.Errorf("invalid virustotal path %q: must start with / and have no query", path)
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("invalid virustotal path %q: dot segments are not allowed", path)
		}
	}
	return nil
}

// once sends one attempt. retry reports whether the failure is transient.
func (c *Client) once(ctx context.Context, target, path string, attempt int) (body []byte, meta Meta, retryAfter time.Duration, retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		return nil, Meta{}, 0, false, fmt.Errorf("build request for virustotal %s: %w", path, err)
	}
	// An empty body without GetBody makes the GET non-replayable, so the
	// Transport never resends it by itself on a reused connection that
	// closed. Such resends would bypass the limiter and spend quota it
	// never counted; the retry loop above resends instead, under the
	// limiter. No body is sent: the Transport reads the empty body first
	// and writes a plain GET.
	req.Body = emptyBody{}
	if !c.key.IsZero() {
		req.Header.Set("x-apikey", c.key.Reveal())
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")

	start := time.Now()
	status := 0
	defer func() {
		attrs := []any{"method", http.MethodGet, "path", path, "status", status,
			"duration", time.Since(start), "attempt", attempt + 1}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		c.log.DebugContext(ctx, "virustotal request", attrs...)
	}()

	resp, err := c.hc.Do(req)
	if err != nil {
		// A parent ctx that ended is final, and so is a certificate that
		// fails verification. A per-attempt timeout or another network
		// failure is worth another try.
		var certErr *tls.CertificateVerificationError
		retry := ctx.Err() == nil && !errors.As(err, &certErr)
		return nil, Meta{}, 0, retry, fmt.Errorf("get virustotal %s: %w", path, c.scrub(err))
	}
	defer resp.Body.Close()
	status = resp.StatusCode

	body, err = io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, Meta{}, 0, ctx.Err() == nil, fmt.Errorf("read virustotal %s: %w: %w", path, ErrTruncated, err)
		}
		return nil, Meta{}, 0, ctx.Err() == nil, fmt.Errorf("read virustotal %s: %w", path, c.scrub(err))
	}
	if int64(len(body)) > c.maxBody {
		return nil, Meta{}, 0, false, fmt.Errorf("read virustotal %s: %w (limit %d bytes)", path, ErrBodyTooLarge, c.maxBody)
	}

	if status >= 200 && status <= 299 {
		return c.redactBody(body), metaOf(resp.Header), 0, false, nil
	}
	verr := c.errorFromBody(status, path, resp.Header, body)
	return nil, Meta{}, verr.RetryAfter, verr.Retryable(), verr
}

// scrub removes the key from an error's text in case a transport ever
// includes a header value; the error chain itself is kept for errors.Is.
func (c *Client) scrub(err error) error {
	if c.key.IsZero() || !strings.Contains(err.Error(), c.key.Reveal()) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), c.key.Reveal(), redacted), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// minBodyRedactLen is the shortest key redacted inside 2xx bodies. Real
// VirusTotal keys are 64 characters; replacing a very short test key would
// corrupt unrelated JSON.
const minBodyRedactLen = 8

// redactBody replaces the key in a success body, so a server that echoes it
// cannot get it into caches or exports.
func (c *Client) redactBody(body []byte) []byte {
	k := c.key.Reveal()
	if len(k) < minBodyRedactLen || !bytes.Contains(body, []byte(k)) {
		return body
	}
	return bytes.ReplaceAll(body, []byte(k), []byte(redacted))
}

func (c *Client) errorFromBody(status int, path string, h http.Header, body []byte) *Error {
	e := &Error{Status: status, Path: path, RetryAfter: parseRetryAfter(h.Get("Retry-After"), time.Now())}
	var env struct {
		Error struct {
			Code    any `json:"code"`
			Message any `json:"message"`
		} `json:"error"`
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &env) == nil {
		code, _ := env.Error.Code.(string)
		msg, _ := env.Error.Message.(string)
		e.Code = cleanMessage(code, c.key.Reveal())
		e.Message = cleanMessage(msg, c.key.Reveal())
	}
	if e.Code == "" && e.Message == "" {
		// HTML error pages and empty bodies carry nothing worth quoting.
		e.Message = strings.ToLower(http.StatusText(status))
		if e.Message == "" {
			e.Message = "unexpected status"
		}
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date. Invalid or past
// values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

// backoff returns the wait before retry number attempt+1: the server's
// Retry-After plus up to 10% jitter when given, else exponential backoff
// from 1s, capped at 30s, with the upper half jittered so that clients
// failing together do not retry together.
// rateLimitBackoff is the wait after a 429 without Retry-After. VirusTotal
// counts requests per minute, so a retry within a few seconds would meet the
// same full window; with the default 20 s step the waits of 15-20 s, 30-40 s
// and 45-60 s span the next minute, which a per-minute limit must have freed
// by then. A 429 that outlasts them is the daily quota.
func rateLimitBackoff(attempt int, step time.Duration) time.Duration {
	d := min(step*time.Duration(attempt+1), maxRetryAfter)
	return d*3/4 + rand.N(d/4+1)
}

func backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter + rand.N(retryAfter/10+1)
	}
	d := backoffMax
	if attempt < 16 {
		d = min(backoffBase<<attempt, backoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// emptyBody is a request body with no bytes. See its use in once.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }
