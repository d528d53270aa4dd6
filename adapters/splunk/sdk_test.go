package splunk

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSDKDecodesOutput reads the command's output with the Splunk SDK for
// Python, an implementation of the protocol independent of this package.
// It needs $VEX_SPLUNK_PYTHON, a Python with splunk-sdk installed.
func TestSDKDecodesOutput(t *testing.T) {
	python := os.Getenv("VEX_SPLUNK_PYTHON")
	if python == "" {
		t.Skip("VEX_SPLUNK_PYTHON not set; .ci/install.d/30-splunk.sh installs splunk-sdk")
	}
	in := getinfo(t, testURI, "sk", "field=ip") +
		execute(false, "_serial,ip,__mv_ip,msg\n0,198.51.100.66,,\"a,b\nc\"\n1,\"198.51.100.66\n8.8.8.8\",$198.51.100.66$;$8.8.8.8$,\xe0\xb8\x97t\n") +
		execute(true, "")
	var out bytes.Buffer
	if err := runTo(t, in, &out); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(python, "testdata/sdk_decode.py")
	cmd.Stdin = bytes.NewReader(out.Bytes())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	decoded, err := cmd.Output()
	if err != nil {
		t.Fatalf("sdk_decode.py: %v\n%s", err, stderr.String())
	}
	var chunks []struct {
		Metadata    map[string]any        `json:"metadata"`
		Header      []string              `json:"header"`
		Rows        int                   `json:"rows"`
		Multivalues map[string][][]string `json:"multivalues"`
	}
	if err := json.Unmarshal(decoded, &chunks); err != nil {
		t.Fatalf("decode %s: %v", decoded, err)
	}
	if len(chunks) != 3 {
		t.Fatalf("the SDK read %d chunks, want 3", len(chunks))
	}
	if chunks[0].Metadata["type"] != "stateful" {
		t.Errorf("getinfo reply = %v", chunks[0].Metadata)
	}
	c := chunks[1]
	if c.Rows != 2 || c.Metadata["finished"] != false {
		t.Errorf("chunk 1: %d rows, finished %v; want 2, false", c.Rows, c.Metadata["finished"])
	}
	if got := c.Multivalues["__mv_vt_tags"][0]; strings.Join(got, "|") != "botnet|c2 $server" {
		t.Errorf("__mv_vt_tags = %q, want the two tags", got)
	}
	if got := c.Multivalues["__mv_vt_verdict"][1]; strings.Join(got, "|") != "MALICIOUS|CLEAN" {
		t.Errorf("__mv_vt_verdict = %q, want one verdict per value", got)
	}
	if chunks[2].Metadata["finished"] != true {
		t.Errorf("last chunk finished = %v", chunks[2].Metadata["finished"])
	}
}
