package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	vexosq "github.com/vex-ioc/vex/adapters/osquery"
	"github.com/vex-ioc/vex/adapters/osquery/osquerytest"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/secret"
)

// This end-to-end test imports the osquery adapter, which the gateway's
// own code never does: it checks that the two work together.

// TestOsqueryThroughGateway queries vex_triage over osquery's Thrift
// protocol twice, once with an engine talking to the fake VirusTotal and
// once with an engine talking to the gateway: the rows must be equal.
func TestOsqueryThroughGateway(t *testing.T) {
	fake := startFake(t, 0)
	r := startReplica(t, replicaConfig{fake: fake, perMinute: 100})
	iocs := []string{"44d88612fea8a8f36de82e1278abb02f", "8.8.4.4", "example-osquery.com", "https://example-osquery.com/a"}

	direct := osqueryRows(t, fake.URL(), secret.New(vtKey), iocs)
	via := osqueryRows(t, r.url(), secret.New(tokenBob), iocs)
	if len(direct) != len(iocs) {
		t.Fatalf("direct query returned %d rows, want %d", len(direct), len(iocs))
	}
	for i := range direct {
		if direct[i]["status"] != "ok" {
			t.Errorf("direct row %d has status %q, want ok: %v", i, direct[i]["status"], direct[i])
		}
		if fmt.Sprint(direct[i]) != fmt.Sprint(via[i]) {
			t.Errorf("row %d differs\ndirect:      %v\nvia gateway: %v", i, direct[i], via[i])
		}
	}
}

// osqueryRows runs SELECT * FROM vex_triage WHERE ioc IN (iocs) against an
// extension whose engine uses baseURL and key, and returns the rows sorted
// by ioc without the columns that record when the lookup ran.
func osqueryRows(t *testing.T, baseURL string, key secret.String, iocs []string) []map[string]string {
	t.Helper()
	cfg := config.Default()
	cfg.API.BaseURL = baseURL
	cfg.API.PerMinute, cfg.API.PerDay = 100, 1000
	cfg.Cache.DataDir = t.TempDir()
	engine, err := enrich.Open(context.Background(), cfg, key, enrich.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()

	// osquery-go limits socket paths to 97 characters, which t.TempDir
	// paths can exceed.
	sockDir, err := os.MkdirTemp("", "vxg")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	m := osquerytest.New(filepath.Join(sockDir, "osquery.em"))
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Stop()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- vexosq.Run(ctx, vexosq.Options{Socket: m.Path(), Engine: engine, PingInterval: 100 * time.Millisecond})
	}()
	defer func() {
		cancel()
		<-done
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if _, err := m.WaitExtension(wctx, vexosq.ExtensionName); err != nil {
		t.Fatal(err)
	}

	qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer qcancel()
	rows, _, err := m.Query(qctx, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.In("ioc", iocs...)}}, osquerytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		delete(row, "fetched_at")
		delete(row, "looked_up_at")
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i]["ioc"] < rows[j]["ioc"] })
	return rows
}
