package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestAppInspect builds the app package with `make splunk-app` and runs
// Splunk AppInspect on it. It needs $VEX_APPINSPECT, which the CI install
// script sets when pip could install splunk-appinspect.
func TestAppInspect(t *testing.T) {
	appinspect := os.Getenv("VEX_APPINSPECT")
	if appinspect == "" {
		t.Skip("VEX_APPINSPECT not set; .ci/install.d/30-splunk.sh installs splunk-appinspect")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	version := "0.0.1"
	mk := exec.Command("make", "-C", root, "splunk-app", "SPLUNK_APP_VERSION="+version)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make splunk-app: %v\n%s", err, out)
	}

	tgz := filepath.Join(root, "dist", "TA-vex-"+version+".tgz")
	// The flags match SPLUNK_APPINSPECT_FLAGS in mk/splunk.mk, which says
	// why the aarch64_compatibility check is left out.
	out, err := exec.Command(appinspect, "inspect", tgz, "--mode", "precert", "--excluded-tags", "aarch64_compatibility").CombinedOutput()
	if err != nil {
		t.Fatalf("splunk-appinspect: %v\n%s", err, out)
	}
	for _, kind := range []string{"error", "failure"} {
		m := regexp.MustCompile(`(?m)^\s*` + kind + `:\s+(\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no %s count in the AppInspect report:\n%s", kind, out)
		}
		if string(m[1]) != "0" {
			t.Errorf("AppInspect reports %s %s:\n%s", m[1], kind, out)
		}
	}
}
