package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/vt/vttest"
)

// Fixed values of the Splunk rows. benchKey is accepted only by the fake
// VirusTotal the harness starts.
const (
	benchKey        = "bench-key-for-the-fake-virustotal-only-0123456789"
	benchSessionKey = "bench-session-key"
	splunkApp       = "TA-vex"
)

// splunkRig is the world the vex Splunk command runs in: a fake splunkd
// that serves the API key, a fake VirusTotal and a vex config with its own
// data directory.
type splunkRig struct {
	vt      *vttest.Server
	splunkd *http.Server
	uri     string // splunkd_uri for getinfo
	cfgPath string
	home    string
}

func startSplunkRig(e *env, latency time.Duration) (*splunkRig, error) {
	vt := vttest.New(vttest.Options{Synthesize: true, Seed: 7, APIKey: benchKey, Latency: latency})
	if err := vt.Start(); err != nil {
		return nil, fmt.Errorf("start fake VirusTotal: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		vt.Close()
		return nil, fmt.Errorf("listen for the fake splunkd: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(servePasswords), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)

	rig := &splunkRig{vt: vt, splunkd: srv, uri: "http://" + ln.Addr().String(), home: filepath.Join(e.work, "home")}
	data := filepath.Join(e.work, "data")
	rig.cfgPath = filepath.Join(e.work, "config.toml")
	cfg := fmt.Sprintf("[api]\nbase_url = %q\ntier = \"premium\"\nper_minute = 1000000\nper_day = 100000000\nmax_retries = 0\nconcurrency = 16\n\n[cache]\ndata_dir = %q\n", vt.URL(), data)
	if err := os.MkdirAll(rig.home, 0o700); err != nil {
		rig.close()
		return nil, err
	}
	if err := writeFile0600(rig.cfgPath, cfg); err != nil {
		rig.close()
		return nil, err
	}
	return rig, nil
}

// environ is the environment of the command under splunkd.
func (r *splunkRig) environ() []string {
	return []string{"HOME=" + r.home, "VEX_CONFIG=" + r.cfgPath, "PATH=" + os.Getenv("PATH"), "VEX_LOG=warn"}
}

func (r *splunkRig) close() {
	r.splunkd.Close()
	r.vt.Close()
}

// servePasswords is the one splunkd endpoint the command calls without a
// KV store: storage/passwords of the app, with the key in realm vex.
func servePasswords(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Splunk "+benchSessionKey {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if req.URL.Path != "/servicesNS/nobody/"+splunkApp+"/storage/passwords" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"entry": []map[string]any{{
		"name":    "vex:api_key:",
		"content": map[string]string{"realm": "vex", "username": "api_key", "clear_password": benchKey},
	}}})
}

// chunk frames one chunked-protocol message.
func chunk(meta, body string) string {
	return fmt.Sprintf("chunked 1.0,%d,%d\n%s%s", len(meta), len(body), meta, body)
}

// getinfoChunk is splunkd's first message for a search with args.
func getinfoChunk(uri string, args []string) string {
	meta, _ := json.Marshal(map[string]any{
		"action": "getinfo", "preview": false,
		"searchinfo": map[string]any{
			"args": args, "app": "search", "sid": "1700000000.1", "owner": "admin", "username": "admin",
			"splunkd_uri": uri, "session_key": benchSessionKey, "splunk_version": "9.3.0", "maxresultrows": 50000,
			"command": "vex", "dispatch_dir": os.TempDir(), "raw_args": args,
			"earliest_time": "0", "latest_time": "0", "search": "search%20index%3Dweb%20%7C%20vex",
		},
	})
	return chunk(string(meta), "")
}

// writeStream writes a search of chunks x rows events over distinct public
// IPv4 addresses, after a getinfo with args, the way splunkd sends it.
func writeStream(path, uri string, args []string, chunks, rows, distinct int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(getinfoChunk(uri, args))
	n := 0
	var body strings.Builder
	for c := range chunks {
		body.Reset()
		body.WriteString("_serial,_time,src_ip,__mv_src_ip,host,_raw\n")
		for range rows {
			ip := publicIP(n % distinct)
			fmt.Fprintf(&body, "%d,%d,%s,,web%d,\"GET /index.html HTTP/1.1 200 from %s\"\n", n, 1700000000+n/1000, ip, n%7, ip)
			n++
		}
		meta := fmt.Sprintf(`{"action":"execute","finished":%t}`, c == chunks-1)
		w.WriteString(chunk(meta, body.String()))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// publicIP returns the i-th of up to 62,500 routable addresses in
// 45.0.0.0/8, so every one is looked up rather than flagged non-routable.
func publicIP(i int) string { return fmt.Sprintf("45.%d.%d.%d", 10+i/62500%200, i/250%250, 1+i%250) }

// countReplyRows reads a command's output and counts the CSV records in
// execute replies and how many of them hold value in some field.
func countReplyRows(path, value string) (rows, withValue int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return rows, withValue, nil
		}
		var m, b int
		if _, err := fmt.Sscanf(line, "chunked 1.0,%d,%d", &m, &b); err != nil {
			return rows, withValue, fmt.Errorf("invalid chunk header %q in %s", line, path)
		}
		buf := make([]byte, m+b)
		if _, err := io.ReadFull(br, buf); err != nil {
			return rows, withValue, err
		}
		body := string(buf[m:])
		if body == "" {
			continue
		}
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		rows += len(lines) - 1
		withValue += strings.Count(body, ","+value+",")
	}
}
