package vt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// TestUpstreamAuthenticationNotRetried sends the vex gateway's 502 for a
// VirusTotal key the gateway's upstream rejected: a retry cannot succeed
// until the operator fixes the gateway, so the client sends one request.
func TestUpstreamAuthenticationNotRetried(t *testing.T) {
	srv := startFake(t, vttest.Options{Synthesize: true})
	srv.Inject(vttest.Fault{Kind: vttest.Status, Status: 502,
		Body: []byte(`{"error":{"code":"UpstreamAuthenticationError","message":"VirusTotal rejected the gateway's API key"}}`)})
	c, rec := newClient(t, vt.Config{BaseURL: srv.URL(), MaxRetries: 3})

	_, err := c.GetObject(context.Background(), ioc.SHA256, sha)
	var verr *vt.Error
	if !errors.As(err, &verr) || verr.Code != "UpstreamAuthenticationError" {
		t.Fatalf("err = %v, want a *vt.Error with code UpstreamAuthenticationError", err)
	}
	if !errors.Is(err, vt.ErrServer) {
		t.Errorf("err = %v, want it to match ErrServer", err)
	}
	if errors.Is(err, vt.ErrUnauthorized) {
		t.Errorf("err = %v matches ErrUnauthorized, which would blame the client's own token", err)
	}
	if n := srv.Count(""); n != 1 || len(rec.delays) != 0 {
		t.Errorf("requests = %d, sleeps = %v; want exactly 1 request", n, rec.delays)
	}
}
