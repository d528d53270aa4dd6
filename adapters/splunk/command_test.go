package splunk

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
)

const testURI = "https://127.0.0.1:1"

func TestCommandGetinfo(t *testing.T) {
	replies, err := runCommand(t, getinfo(t, testURI, "sk", "field=src_ip"), &fakeEngine{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 1 {
		t.Fatalf("got %d replies, want 1", len(replies))
	}
	m := replies[0].meta
	if m["type"] != "stateful" {
		t.Errorf("type = %v, want stateful", m["type"])
	}
	if rf, _ := m["required_fields"].([]any); len(rf) != 1 || rf[0] != "src_ip" {
		t.Errorf("required_fields = %v, want [src_ip]", m["required_fields"])
	}
	if _, ok := m["finished"]; ok {
		t.Errorf("getinfo reply has finished: %v", m)
	}
}

func TestCommandBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing field", nil, "missing field"},
		{"unknown option", []string{"field=a", "colour=red"}, "unknown option \"colour\""},
		{"positional", []string{"field=a", "src_ip"}, "unexpected argument"},
		{"bad mode", []string{"field=a", "mode=deep"}, "invalid mode"},
		{"bad bool", []string{"field=a", "offline=maybe"}, "invalid offline"},
		{"bad max_age", []string{"field=a", "max_age=soon"}, "invalid max_age"},
		{"bad prefix", []string{"field=a", "prefix=vt-"}, "invalid prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replies, err := runCommand(t, getinfo(t, testURI, "sk", tt.args...)+execute(true, "a\n1\n"), &fakeEngine{}, nil)
			if err == nil {
				t.Fatal("Run returned nil, want an error")
			}
			if len(replies) != 1 {
				t.Fatalf("got %d replies, want one error reply", len(replies))
			}
			msg, _ := replies[0].meta["error"].(string)
			if !strings.Contains(msg, tt.want) || replies[0].meta["finished"] != true {
				t.Errorf("reply = %v, want finished and an error containing %q", replies[0].meta, tt.want)
			}
		})
	}
}

func TestParseArgsValues(t *testing.T) {
	a, err := ParseArgs([]string{"field=ip", "mode=Investigate", "prefix=ti_", "offline=t", "max_age=7d", "kvstore=false", "timeout=90"})
	if err != nil {
		t.Fatal(err)
	}
	want := Args{Field: "ip", Mode: enrich.Investigate, Prefix: "ti_", Offline: true, MaxAge: 7 * 24 * time.Hour, KVStore: false, Timeout: 90 * time.Second}
	if a != want {
		t.Errorf("ParseArgs = %+v, want %+v", a, want)
	}
}

func TestCommandEnrichesAndDeduplicates(t *testing.T) {
	eng := &fakeEngine{}
	in := getinfo(t, testURI, "sk", "field=src_ip") +
		execute(false, "_serial,src_ip,__mv_src_ip,msg\n0,198.51.100.66,,a\n1,8.8.8.8,,\"b,c\"\n2,198.51.100.66,,d\n") +
		execute(false, "src_ip,_serial,other\n8.8.8.8,3,x\n9.9.9.9,4,y\n,5,z\n") +
		execute(true, "")
	replies, err := runCommand(t, in, eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 4 {
		t.Fatalf("got %d replies, want getinfo + 3", len(replies))
	}

	// Each value is looked up once across the search.
	for _, ip := range []string{"198.51.100.66", "8.8.8.8", "9.9.9.9"} {
		if n := eng.count(ip); n != 1 {
			t.Errorf("%s looked up %d times, want 1", ip, n)
		}
	}

	r1 := replies[1]
	if r1.meta["finished"] != false {
		t.Errorf("reply 1 finished = %v, want false", r1.meta["finished"])
	}
	if len(r1.rows) != 3 {
		t.Fatalf("reply 1 has %d rows, want 3", len(r1.rows))
	}
	for i, serial := range []string{"0", "1", "2"} {
		if got := r1.value(t, i, "_serial"); got != serial {
			t.Errorf("row %d _serial = %q, want %q", i, got, serial)
		}
	}
	if got := r1.value(t, 1, "msg"); got != "b,c" {
		t.Errorf("msg = %q, want input kept", got)
	}
	if got := r1.value(t, 0, "vt_verdict"); got != "MALICIOUS" {
		t.Errorf("vt_verdict = %q, want MALICIOUS", got)
	}
	if got := r1.value(t, 1, "vt_verdict"); got != "CLEAN" {
		t.Errorf("vt_verdict = %q, want CLEAN", got)
	}
	if got := r1.value(t, 0, "vt_malicious"); got != "5" {
		t.Errorf("vt_malicious = %q, want 5", got)
	}
	if got := r1.value(t, 0, "vt_tags"); got != "botnet\nc2 $server" {
		t.Errorf("vt_tags = %q, want two lines", got)
	}
	if got := r1.value(t, 0, "__mv_vt_tags"); got != "$botnet$;$c2 $$server$" {
		t.Errorf("__mv_vt_tags = %q", got)
	}
	if got := r1.value(t, 0, "vt_type"); got != "ipv4" {
		t.Errorf("vt_type = %q, want ipv4", got)
	}
	if got := r1.value(t, 0, "vt_source"); got != "api" {
		t.Errorf("vt_source = %q, want api", got)
	}

	// The second chunk has its own header, and an empty value gets empty
	// output fields.
	r2 := replies[2]
	if got := r2.value(t, 0, "other"); got != "x" {
		t.Errorf("other = %q, want x", got)
	}
	if got := r2.value(t, 2, "vt_verdict"); got != "" {
		t.Errorf("vt_verdict for an empty field = %q, want empty", got)
	}
	for _, f := range outputFields {
		if r2.col("vt_"+f) < 0 || r2.col("__mv_vt_"+f) < 0 {
			t.Errorf("reply 2 lacks vt_%s or its __mv_ partner", f)
		}
	}
	if replies[3].meta["finished"] != true {
		t.Errorf("last reply finished = %v, want true", replies[3].meta["finished"])
	}
}

func TestCommandMultivalueInput(t *testing.T) {
	eng := &fakeEngine{}
	in := getinfo(t, testURI, "sk", "field=ip") +
		execute(true, "ip,__mv_ip\n\"198.51.100.66\n8.8.8.8\",$198.51.100.66$;$8.8.8.8$\n")
	replies, err := runCommand(t, in, eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := replies[1]
	if got := r.value(t, 0, "vt_verdict"); got != "MALICIOUS\nCLEAN" {
		t.Errorf("vt_verdict = %q, want one line per value", got)
	}
	if got := r.value(t, 0, "__mv_vt_verdict"); got != "$MALICIOUS$;$CLEAN$" {
		t.Errorf("__mv_vt_verdict = %q", got)
	}
	if got := r.value(t, 0, "__mv_ip"); got != "$198.51.100.66$;$8.8.8.8$" {
		t.Errorf("__mv_ip = %q, want the input kept", got)
	}
}

func TestCommandOverwritesOwnFields(t *testing.T) {
	in := getinfo(t, testURI, "sk", "field=ip") + execute(true, "ip,vt_verdict\n8.8.8.8,OLD\n")
	replies, err := runCommand(t, in, &fakeEngine{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := replies[1]
	if got := r.value(t, 0, "vt_verdict"); got != "CLEAN" {
		t.Errorf("vt_verdict = %q, want CLEAN", got)
	}
	n := 0
	for _, h := range r.header {
		if h == "vt_verdict" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("header has vt_verdict %d times, want once: %q", n, r.header)
	}
}

func TestCommandQuotaWarning(t *testing.T) {
	in := getinfo(t, testURI, "sk", "field=ip") + execute(true, "ip\n8.8.8.8\n")
	replies, err := runCommand(t, in, &fakeEngine{status: enrich.StatusQuota}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := replies[1]
	if got := r.value(t, 0, "vt_status"); got != "quota_exhausted" {
		t.Errorf("vt_status = %q", got)
	}
	if got := r.value(t, 0, "vt_malicious"); got != "" {
		t.Errorf("vt_malicious = %q, want empty when not looked up", got)
	}
	msgs := inspectorMessages(r)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "WARN") || !strings.Contains(msgs[0], "quota exhausted") {
		t.Errorf("inspector messages = %q, want one quota warning", msgs)
	}
}

func TestCommandTimeout(t *testing.T) {
	in := getinfo(t, testURI, "sk", "field=ip", "timeout=1s") + execute(true, "ip\n8.8.8.8\n")
	start := time.Now()
	var out strings.Builder
	eng := &fakeEngine{block: true}
	err := Run(context.Background(), strings.NewReader(in), &out, Config{
		Open: func(context.Context, *SearchInfo, Args) (*Backend, error) { return &Backend{Enricher: eng}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %s, want about the 1s timeout", d)
	}
	r := readReplies(t, []byte(out.String()))[1]
	if got := r.value(t, 0, "vt_status"); got != "cancelled" {
		t.Errorf("vt_status = %q, want cancelled", got)
	}
	if msgs := inspectorMessages(r); len(msgs) != 1 || !strings.Contains(msgs[0], "timeout=1s") {
		t.Errorf("inspector messages = %q, want a timeout warning", msgs)
	}
}

func TestCommandOpenFailure(t *testing.T) {
	in := getinfo(t, testURI, "sk", "field=ip") + execute(true, "ip\n8.8.8.8\n")
	var out strings.Builder
	err := Run(context.Background(), strings.NewReader(in), &out, Config{
		Open: func(context.Context, *SearchInfo, Args) (*Backend, error) { return nil, ErrNoKey },
	})
	if err == nil {
		t.Fatal("Run returned nil, want the setup error")
	}
	replies := readReplies(t, []byte(out.String()))
	if len(replies) != 2 {
		t.Fatalf("got %d replies, want getinfo and one error", len(replies))
	}
	if msg, _ := replies[1].meta["error"].(string); !strings.Contains(msg, "no VirusTotal API key") {
		t.Errorf("error reply = %v", replies[1].meta)
	}
}

func TestCommandNoLookupWithoutValues(t *testing.T) {
	opened := false
	in := getinfo(t, testURI, "sk", "field=ip") + execute(true, "other\nx\n")
	var out strings.Builder
	err := Run(context.Background(), strings.NewReader(in), &out, Config{
		Open: func(context.Context, *SearchInfo, Args) (*Backend, error) { opened = true; return nil, ErrNoKey },
	})
	if err != nil {
		t.Fatal(err)
	}
	if opened {
		t.Error("the backend was opened for a chunk without values")
	}
}

func TestCommandMalformedInput(t *testing.T) {
	gi := getinfo(t, testURI, "sk", "field=ip")
	big := "ip\n" + strings.Repeat("8.8.8.8\n", 200_000)
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"wrong lengths", gi + "chunked 1.0,36,999\n{\"action\":\"execute\",\"finished\":true}ip\n1.1.1.1\n", "read 11 of 999 body bytes"},
		{"truncated body", gi + "chunked 1.0,36,20\n{\"action\":\"execute\",\"finished\":true}ip\n1.", "truncated chunk"},
		{"invalid json", gi + frame("{not json}", "ip\n1\n"), "invalid chunk metadata"},
		{"invalid json metadata", gi + frame("{\"action\":", ""), "invalid chunk metadata"},
		{"getinfo missing", execute(true, "ip\n1\n"), "want getinfo"},
		{"garbage header", gi + "hello world\n", "invalid chunk header"},
		{"200000 rows", gi + execute(true, big), "more than 100000 records"},
		{"bad csv", gi + execute(true, "ip\n\"1.1.1.1\n"), "closing quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var replies []reply
			var err error
			go func() {
				defer close(done)
				replies, err = runCommand(t, tt.input, &fakeEngine{}, nil)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return within 30s")
			}
			if err == nil {
				t.Fatal("Run returned nil, want a protocol error")
			}
			last := replies[len(replies)-1]
			msg, _ := last.meta["error"].(string)
			if last.meta["finished"] != true || !strings.Contains(msg, tt.want) {
				t.Errorf("last reply = %v, want finished and an error containing %q", last.meta, tt.want)
			}
		})
	}
}

func inspectorMessages(r reply) []string {
	in, _ := r.meta["inspector"].(map[string]any)
	list, _ := in["messages"].([]any)
	var out []string
	for _, m := range list {
		pair, _ := m.([]any)
		var parts []string
		for _, p := range pair {
			s, _ := p.(string)
			parts = append(parts, s)
		}
		out = append(out, strings.Join(parts, ": "))
	}
	return out
}
