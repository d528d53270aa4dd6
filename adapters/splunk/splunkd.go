package splunk

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/secret"
)

// Realm is the storage/passwords realm that holds the VirusTotal key.
const Realm = "vex"

// AppName is the Splunk app the command ships in; its namespace holds the
// stored key and the KV store collection.
const AppName = "TA-vex"

// maxResponse bounds a splunkd response body read into memory.
const maxResponse = 32 << 20

// TLSOptions set how the command checks splunkd's certificate.
type TLSOptions struct {
	// RootCAs verifies splunkd's certificate; nil means the system roots.
	RootCAs *x509.CertPool
	// AllowSelfSignedLoopback skips verification when splunkd_uri is a
	// loopback address, the normal case for a search command, whose
	// splunkd uses Splunk's self-signed default certificate. Remote
	// addresses are always verified.
	AllowSelfSignedLoopback bool
}

// Splunkd is a client for the splunkd REST endpoints the command uses,
// authenticated with the search's session key.
type Splunkd struct {
	base    *url.URL
	session secret.String
	app     string
	http    *http.Client
}

// NewSplunkd returns a client for splunkdURI in the namespace of app. It
// rejects plain http to a host that is not loopback, so the session key
// never crosses a network in clear text.
func NewSplunkd(splunkdURI string, session secret.String, app string, opt TLSOptions) (*Splunkd, error) {
	u, err := url.Parse(splunkdURI)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return nil, fmt.Errorf("invalid splunkd_uri %q from splunkd: want https://host:port", splunkdURI)
	}
	if session.IsZero() {
		return nil, errors.New("getinfo carried no session key: run the command from a Splunk search")
	}
	loopback := isLoopback(u.Hostname())
	if u.Scheme == "http" && !loopback {
		return nil, fmt.Errorf("splunkd_uri %q uses plain http to a remote host: enable TLS on splunkd", splunkdURI)
	}
	tc := &tls.Config{RootCAs: opt.RootCAs, MinVersion: tls.VersionTLS12}
	if loopback && opt.AllowSelfSignedLoopback {
		tc.InsecureSkipVerify = true // loopback only: see TLSOptions
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		Proxy:               nil, // splunkd is local; a proxy must not see the session key
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
	}
	return &Splunkd{
		base:    &url.URL{Scheme: u.Scheme, Host: u.Host},
		session: session,
		app:     app,
		http:    &http.Client{Transport: tr, Timeout: 60 * time.Second},
	}, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CloseIdle releases idle connections.
func (s *Splunkd) CloseIdle() { s.http.CloseIdleConnections() }

// StatusError is a splunkd reply with an unexpected HTTP status.
type StatusError struct {
	Op     string
	Status int
	Msg    string // splunkd's own message, when it sent one
}

func (e *StatusError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized:
		hint = ": splunkd rejected the session key; rerun the search"
	case http.StatusForbidden:
		hint = ": the search's user lacks the capability; see the app README"
	case http.StatusNotFound:
		hint = ": not found; is the TA-vex app installed?"
	}
	if e.Msg != "" {
		return fmt.Sprintf("%s: splunkd returned HTTP %d (%s)%s", e.Op, e.Status, e.Msg, hint)
	}
	return fmt.Sprintf("%s: splunkd returned HTTP %d%s", e.Op, e.Status, hint)
}

// do sends a request to path under the app's namespace and decodes the
// JSON reply into out.
func (s *Splunkd) do(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	u := *s.base
	u.Path = "/servicesNS/nobody/" + url.PathEscape(s.app) + path
	if query == nil {
		query = url.Values{}
	}
	query.Set("output_mode", "json")
	u.RawQuery = query.Encode()

	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Authorization", "Splunk "+s.session.Reveal())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := s.http.Do(req)
	if err != nil {
		// The url.Error names the URL, which carries no secret.
		return fmt.Errorf("%s: splunkd unreachable: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s: read splunkd reply: %w", op, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("%s: splunkd reply exceeds %d bytes", op, maxResponse)
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Op: op, Status: resp.StatusCode, Msg: splunkdMessage(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: invalid JSON from splunkd: %w", op, err)
	}
	return nil
}

// splunkdMessage extracts the text of {"messages":[{"type":..,"text":..}]}.
func splunkdMessage(data []byte) string {
	var m struct {
		Messages []struct {
			Text string `json:"text"`
		} `json:"messages"`
	}
	if json.Unmarshal(data, &m) != nil || len(m.Messages) == 0 {
		return ""
	}
	return m.Messages[0].Text
}

// ErrNoKey means storage/passwords holds no credential in the vex realm.
var ErrNoKey = errors.New("no VirusTotal API key stored")

// KeyUsername is the storage/passwords user name the README tells admins
// to use; APIKey prefers it when the realm holds several credentials.
const KeyUsername = "api_key"

// APIKey reads the VirusTotal key from storage/passwords: the credential in
// realm Realm, preferring user name KeyUsername.
func (s *Splunkd) APIKey(ctx context.Context) (secret.String, error) {
	var list struct {
		Entry []struct {
			Content struct {
				Realm         string `json:"realm"`
				Username      string `json:"username"`
				ClearPassword string `json:"clear_password"`
			} `json:"content"`
		} `json:"entry"`
	}
	q := url.Values{"count": {"0"}, "search": {"realm=" + Realm}}
	if err := s.do(ctx, "read the API key from storage/passwords", http.MethodGet, "/storage/passwords", q, nil, &list); err != nil {
		return secret.String{}, err
	}
	var found []string
	var users []string
	for _, e := range list.Entry {
		if e.Content.Realm != Realm || e.Content.ClearPassword == "" {
			continue
		}
		if e.Content.Username == KeyUsername {
			return secret.New(e.Content.ClearPassword), nil
		}
		found = append(found, e.Content.ClearPassword)
		users = append(users, e.Content.Username)
	}
	switch len(found) {
	case 0:
		return secret.String{}, fmt.Errorf("%w in realm %q of app %s: store it with a POST to storage/passwords (name=%s realm=%s), see the app README", ErrNoKey, Realm, s.app, KeyUsername, Realm)
	case 1:
		return secret.New(found[0]), nil
	}
	return secret.String{}, fmt.Errorf("realm %q holds %d credentials (users %s) and none is named %q: keep one or rename the key's user", Realm, len(found), strings.Join(users, ", "), KeyUsername)
}
