package splunk

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/adapters/splunk/splunktest"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/secret"
)

const (
	goodSession = "session-key-of-the-search"
	vtKey       = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func fakeSplunkd(t *testing.T, opt splunktest.Options) (*splunktest.Server, *Splunkd) {
	t.Helper()
	if opt.SessionKey == "" {
		opt.SessionKey = goodSession
	}
	srv := splunktest.New(t, opt)
	sd, err := NewSplunkd(srv.URL(), secret.New(goodSession), AppName, TLSOptions{AllowSelfSignedLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	return srv, sd
}

func TestAPIKey(t *testing.T) {
	tests := []struct {
		name    string
		creds   []splunktest.Credential
		want    string
		wantErr string
	}{
		{name: "one key", creds: []splunktest.Credential{{Realm: "vex", Username: "anything", Password: vtKey}}, want: vtKey},
		{name: "prefers api_key", creds: []splunktest.Credential{{Realm: "vex", Username: "old", Password: "x"}, {Realm: "vex", Username: "api_key", Password: vtKey}}, want: vtKey},
		{name: "other realms ignored", creds: []splunktest.Credential{{Realm: "other", Username: "api_key", Password: "x"}, {Realm: "vex", Username: "k", Password: vtKey}}, want: vtKey},
		{name: "no key", creds: []splunktest.Credential{{Realm: "other", Username: "api_key", Password: "x"}}, wantErr: "no VirusTotal API key stored"},
		{name: "ambiguous", creds: []splunktest.Credential{{Realm: "vex", Username: "a", Password: "x"}, {Realm: "vex", Username: "b", Password: "y"}}, wantErr: "holds 2 credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sd := fakeSplunkd(t, splunktest.Options{Credentials: tt.creds})
			key, err := sd.APIKey(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if key.Reveal() != tt.want {
				t.Errorf("key = %s, want the stored key", key.Masked())
			}
		})
	}
}

func TestAPIKeyWrongSession(t *testing.T) {
	srv := splunktest.New(t, splunktest.Options{SessionKey: goodSession, Credentials: []splunktest.Credential{{Realm: "vex", Username: "api_key", Password: vtKey}}})
	sd, err := NewSplunkd(srv.URL(), secret.New("stale-session"), AppName, TLSOptions{AllowSelfSignedLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sd.APIKey(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 401 {
		t.Fatalf("error = %v, want a 401 StatusError", err)
	}
	if !strings.Contains(err.Error(), "rejected the session key") {
		t.Errorf("error %q does not say what to do", err)
	}
	if strings.Contains(err.Error(), "stale-session") {
		t.Errorf("error %q leaks the session key", err)
	}
}

func TestAPIKeyUnreachable(t *testing.T) {
	sd, err := NewSplunkd(splunktest.UnreachableURL(t), secret.New(goodSession), AppName, TLSOptions{AllowSelfSignedLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = sd.APIKey(ctx)
	if err == nil || !strings.Contains(err.Error(), "splunkd unreachable") {
		t.Fatalf("error = %v, want splunkd unreachable", err)
	}
}

func TestSplunkdTLS(t *testing.T) {
	srv := splunktest.New(t, splunktest.Options{SessionKey: goodSession, Credentials: []splunktest.Credential{{Realm: "vex", Username: "api_key", Password: vtKey}}})
	ctx := context.Background()

	// Verification is on by default, and the fake's certificate is not
	// trusted by the system roots.
	sd, err := NewSplunkd(srv.URL(), secret.New(goodSession), AppName, TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sd.APIKey(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error = %v, want a certificate verification failure", err)
	}

	// Trusting the certificate's CA verifies it properly.
	pool := x509.NewCertPool()
	pool.AddCert(srv.Server().Certificate())
	sd, err = NewSplunkd(srv.URL(), secret.New(goodSession), AppName, TLSOptions{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sd.APIKey(ctx); err != nil {
		t.Errorf("with the CA trusted: %v", err)
	}
}

func TestNewSplunkdRejects(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"http://10.1.2.3:8089", "plain http to a remote host"},
		{"ftp://127.0.0.1:8089", "invalid splunkd_uri"},
		{"https://user:pw@127.0.0.1:8089", "invalid splunkd_uri"},
		{"", "invalid splunkd_uri"},
	}
	for _, tt := range tests {
		_, err := NewSplunkd(tt.uri, secret.New(goodSession), AppName, TLSOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSplunkd(%q) error = %v, want %q", tt.uri, err, tt.want)
		}
	}
	if _, err := NewSplunkd("https://127.0.0.1:8089", secret.String{}, AppName, TLSOptions{}); err == nil {
		t.Error("NewSplunkd accepted an empty session key")
	}
}

func TestKVCacheRoundTrip(t *testing.T) {
	srv, sd := fakeSplunkd(t, splunktest.Options{Collections: []string{Collection}})
	kv := NewKVCache(sd, Collection)
	ctx := context.Background()

	exists, err := kv.Exists(ctx)
	if err != nil || !exists {
		t.Fatalf("Exists = %v, %v; want true", exists, err)
	}
	if ok, err := NewKVCache(sd, "missing").Exists(ctx); ok || err != nil {
		t.Errorf("Exists(missing) = %v, %v; want false, nil", ok, err)
	}

	fetched := time.Unix(1_700_000_000, 0).UTC()
	in := map[string]enrich.Result{
		"triage:url:http://x.test/a?b=1": {Input: "hxxp://x[.]test/a?b=1", Status: enrich.StatusOK, Normalized: "http://x.test/a?b=1", Engines: 70, FetchedAt: fetched},
	}
	for i := range 700 { // more than one batch
		in["triage:ipv4:k"+string(rune('a'+i%26))+strings.Repeat("x", i)] = enrich.Result{Status: enrich.StatusNotFound, FetchedAt: fetched}
	}
	if err := kv.Save(ctx, in); err != nil {
		t.Fatal(err)
	}
	if n := srv.Documents(Collection); n != len(in) {
		t.Fatalf("collection holds %d documents, want %d", n, len(in))
	}
	if n := srv.Count("/batch_save"); n != 2 {
		t.Errorf("%d batch_save calls, want 2 for %d documents", n, len(in))
	}

	keys := []string{"triage:url:http://x.test/a?b=1", "triage:ipv4:nothing"}
	found, err := kv.Find(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 {
		t.Fatalf("found %d results, want 1", len(found))
	}
	got := found[keys[0]]
	if got.Engines != 70 || !got.FetchedAt.Equal(fetched) || got.Input != "" {
		t.Errorf("found %+v, want the stored result without its input", got)
	}
}

func TestCommandSharedCache(t *testing.T) {
	srv, sd := fakeSplunkd(t, splunktest.Options{Collections: []string{Collection}})
	kv := NewKVCache(sd, Collection)
	in := getinfo(t, srv.URL(), goodSession, "field=ip") + execute(true, "ip\n198.51.100.66\n8.8.8.8\n8.8.8.8\n")

	// The first search looks values up and shares them.
	first := &fakeEngine{}
	if _, err := runCommand(t, in, first, kv); err != nil {
		t.Fatal(err)
	}
	if n := srv.Documents(Collection); n != 2 {
		t.Fatalf("collection holds %d documents, want 2", n)
	}

	// A second search, as on another search head, reads from the KV
	// store without a lookup.
	second := &fakeEngine{}
	replies, err := runCommand(t, in, second, kv)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.calls) != 0 {
		t.Errorf("second search made lookups %q, want none", second.calls)
	}
	r := replies[1]
	if got := r.value(t, 0, "vt_verdict"); got != "MALICIOUS" {
		t.Errorf("vt_verdict = %q, want MALICIOUS from the KV store", got)
	}
	if got := r.value(t, 0, "vt_source"); got != "cache" {
		t.Errorf("vt_source = %q, want cache", got)
	}
	if got := r.value(t, 0, "vt_tags"); got != "botnet\nc2 $server" {
		t.Errorf("vt_tags = %q", got)
	}

	// kvstore=false skips it.
	third := &fakeEngine{}
	off := getinfo(t, srv.URL(), goodSession, "field=ip", "kvstore=false") + execute(true, "ip\n8.8.8.8\n")
	if _, err := runCommand(t, off, third, kv); err != nil {
		t.Fatal(err)
	}
	if third.count("8.8.8.8") != 1 {
		t.Errorf("kvstore=false: 8.8.8.8 looked up %d times, want 1", third.count("8.8.8.8"))
	}
}

func TestCommandSharedCacheDown(t *testing.T) {
	srv, sd := fakeSplunkd(t, splunktest.Options{Collections: []string{Collection}, KVStatus: 503})
	in := getinfo(t, srv.URL(), goodSession, "field=ip") + execute(false, "ip\n8.8.8.8\n") + execute(true, "ip\n9.9.9.9\n")
	eng := &fakeEngine{}
	replies, err := runCommand(t, in, eng, NewKVCache(sd, Collection))
	if err != nil {
		t.Fatal(err)
	}
	if got := replies[1].value(t, 0, "vt_verdict"); got != "CLEAN" {
		t.Errorf("vt_verdict = %q, want the engine's answer", got)
	}
	msgs := inspectorMessages(replies[1])
	if len(msgs) != 1 || !strings.Contains(msgs[0], "KV store cache unavailable") || !strings.Contains(msgs[0], "HTTP 503") {
		t.Errorf("messages = %q, want one KV store warning", msgs)
	}
	if msgs := inspectorMessages(replies[2]); len(msgs) != 0 {
		t.Errorf("second chunk repeats messages %q", msgs)
	}
	if n := srv.Count("/batch_find"); n != 1 {
		t.Errorf("%d batch_find calls, want 1 before the cache is turned off", n)
	}
}
