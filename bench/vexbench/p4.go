package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runP4 measures `vex extract --count` on 100 MB of mixed text, pinned to
// one core, against iocextract and ioc-finder on the start of the same file.
func runP4(ctx context.Context, e *env) (row, error) {
	r := row{Target: "≥ 50x the faster peer and ≥ 100 MB/s on one core"}
	size := pick(e, 100_000_000, 8_000_000)
	input := filepath.Join(e.work, "mixed.txt")
	if err := writeMixedText(input, size); err != nil {
		return r, err
	}
	r.Input = fmt.Sprintf("%d bytes of generated text (bench/vexbench/p4.go, fixed seed): prose, CSV rows, log lines and sentences "+
		"with md5, sha1, sha256, IPv4, domains and URLs, about half of them defanged (`[.]`, `hxxp`, `(dot)`).", size)

	// vex, pinned to core 0 with one P, the way "one core" is meant.
	runs := pick(e, 5, 2)
	args := []string{"-c", "0", "env", "GOMAXPROCS=1", e.path("vex"), "extract", "--count", input}
	var wall, cpu []float64
	var counts bytes.Buffer
	for i := range runs {
		var out *bytes.Buffer
		if i == 0 {
			out = &counts
		}
		pr, err := runProc(ctx, procSpec{Path: "taskset", Args: args, Stdout: writerOrNil(out)})
		if err != nil {
			return r, err
		}
		wall = append(wall, float64(size)/1e6/pr.Wall.Seconds())
		cpu = append(cpu, float64(size)/1e6/pr.CPU.Seconds())
	}
	r.Command = append(r.Command, "taskset -c 0 env GOMAXPROCS=1 vex extract --count mixed.txt   # "+fmt.Sprint(runs)+" runs")
	if hf, err := exec.LookPath("hyperfine"); err == nil {
		jsonPath := filepath.Join(e.work, "hyperfine.json")
		cmdline := "taskset -c 0 env GOMAXPROCS=1 " + e.path("vex") + " extract --count " + input
		hfRuns := fmt.Sprint(runs)
		if _, err := runProc(ctx, procSpec{Path: hf, Args: []string{"-N", "--warmup", "1", "--runs", hfRuns, "--export-json", jsonPath, cmdline}}); err != nil {
			return r, err
		}
		if med, err := hyperfineMedian(jsonPath); err == nil {
			r.Details = append(r.Details, fmt.Sprintf("hyperfine (%s runs after one warm-up): median %.3f s wall, %.1f MB/s.", hfRuns, med, float64(size)/1e6/med))
		}
		r.Command = append(r.Command, "hyperfine -N --warmup 1 --runs "+hfRuns+" 'taskset -c 0 env GOMAXPROCS=1 vex extract --count mixed.txt'")
	}
	vexWall, vexCPU := median(wall), median(cpu)
	r.Details = append(r.Details,
		"vex MB/s (wall, process start to exit): "+joinRuns(wall, "%.1f"),
		"vex MB per CPU second (user + system): "+joinRuns(cpu, "%.1f"),
		"vex distinct values: "+countsLine(counts.String()))
	r.Vex = fmt.Sprintf("%.1f MB/s wall, %.1f MB/CPU-s", vexWall, vexCPU)

	// The Python peers, on the start of the file.
	if e.python == "" {
		r.Peer = "not run: no Python venv"
		r.Met = metWhen(vexCPU >= 100)
		r.Why = "the peers need the venv that bench/run.sh creates with pip; without it only the absolute target is checked"
		return r, nil
	}
	sample := pick(e, 1_000_000, 200_000)
	best, bestName := 0.0, ""
	for _, tool := range []string{"iocextract", "ioc-finder"} {
		var rates []float64
		var last peerExtract
		for range pick(e, 3, 1) {
			pe, err := runExtractPeer(ctx, e, tool, input, sample)
			if err != nil {
				r.Details = append(r.Details, fmt.Sprintf("%s failed: %v", tool, err))
				rates = nil
				break
			}
			rates = append(rates, float64(pe.Bytes)/1e6/pe.Seconds)
			last = pe
		}
		if len(rates) == 0 {
			continue
		}
		med := median(rates)
		r.Details = append(r.Details, fmt.Sprintf("%s on the first %d bytes: %s MB/s; distinct values %s", tool, last.Bytes, joinRuns(rates, "%.3f"), formatCounts(last.Counts)))
		if med > best {
			best, bestName = med, tool
		}
	}
	r.Command = append(r.Command, fmt.Sprintf("bench/.venv/bin/python bench/peers/extract_peer.py iocextract|ioc-finder mixed.txt %d", sample))
	if bestName == "" {
		r.Peer = "not measured: both peers failed"
		r.Met = metWhen(vexCPU >= 100)
		return r, nil
	}
	ratio := vexWall / best
	r.Peer = fmt.Sprintf("%s %.3f MB/s", bestName, best)
	r.Ratio = fmt.Sprintf("%.0fx (wall)", ratio)
	r.Met = metWhen(ratio >= 50 && vexCPU >= 100)
	r.Details = append(r.Details, "The peers are timed inside Python around the extraction calls only (no interpreter start-up, no file read), "+
		"on a 1 MB sample because they need seconds per megabyte. vex is timed as a whole process on the full file, so the ratio favours the peers.")
	switch {
	case vexCPU < 100:
		r.Why = fmt.Sprintf("vex extracts %.1f MB per CPU second, under 100. The cost per indicator dominates on dense text: "+
			"the insert of each new value into the set of values seen (a cache miss), refanging, and domain and URL "+
			"validation. BenchmarkExtract in core/ioc profiles the same work in process.", vexCPU)
	case ratio < 50:
		r.Why = fmt.Sprintf("vex extracts %.1f MB per CPU second, but its wall rate is %.1f MB/s because the process waits "+
			"for core 0, which it shares with the other work on this machine (load average %s at the end of the row). "+
			"50x the peer needs %.1f MB/s wall.", vexCPU, vexWall, loadAverage(), 50*best)
	}
	return r, nil
}

// writerOrNil keeps a typed nil *bytes.Buffer from becoming a non-nil
// io.Writer.
func writerOrNil(b *bytes.Buffer) io.Writer {
	if b == nil {
		return nil
	}
	return b
}

type peerExtract struct {
	Tool    string         `json:"tool"`
	Bytes   int            `json:"bytes"`
	Seconds float64        `json:"seconds"`
	Counts  map[string]int `json:"counts"`
}

func runExtractPeer(ctx context.Context, e *env, tool, input string, sample int) (peerExtract, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	_, err := runProc(ctx, procSpec{Path: e.python, Args: []string{filepath.Join(e.peers, "extract_peer.py"), tool, input, fmt.Sprint(sample)}, Stdout: &out})
	if err != nil {
		return peerExtract{}, err
	}
	var pe peerExtract
	if err := json.Unmarshal(out.Bytes(), &pe); err != nil {
		return pe, fmt.Errorf("decode %s driver output %q: %w", tool, out.String(), err)
	}
	if pe.Seconds <= 0 {
		return pe, fmt.Errorf("%s driver reported %v seconds", tool, pe.Seconds)
	}
	return pe, nil
}

func formatCounts(c map[string]int) string {
	var parts []string
	for _, k := range []string{"md5", "sha1", "sha256", "ipv4", "domain", "url"} {
		if v, ok := c[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

func hyperfineMedian(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var v struct {
		Results []struct {
			Median float64 `json:"median"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, err
	}
	if len(v.Results) == 0 {
		return 0, fmt.Errorf("no results in %s", path)
	}
	return v.Results[0].Median, nil
}

// writeMixedText writes size bytes of text with indicators on about one
// line in three, half of them defanged, from a fixed seed.
func writeMixedText(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(7, 10))
	prose := []string{
		"The actor used spear-phishing emails with malicious attachments to gain initial access.",
		"After execution, the loader decrypts its configuration and contacts the command server.",
		"Lateral movement used stolen credentials and remote services; see the appendix for details.",
		"Persistence is achieved through a scheduled task named UpdateCheck (Table 3, version 2.4.1).",
		"2024-05-17 10:22:31 INFO worker=7 request completed in 31 ms status=200 bytes=5120",
	}
	tlds := []string{"com", "net", "org", "ru", "top", "xyz", "info", "io"}
	word := func() string {
		n := 4 + rng.IntN(8)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	hexs := func(n int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, n)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	dot := func() string {
		switch rng.IntN(4) {
		case 0:
			return "[.]"
		case 1:
			return "(dot)"
		default:
			return "."
		}
	}
	ip := func() string {
		return fmt.Sprintf("%d.%d.%d%s%d", 1+rng.IntN(222), rng.IntN(256), rng.IntN(256), dot(), 1+rng.IntN(254))
	}

	written := 0
	for written < size {
		var line string
		switch k := rng.IntN(12); {
		case k < 8:
			line = prose[rng.IntN(len(prose))]
		case k == 8:
			line = fmt.Sprintf("sha256,%s,%s.dll,%d", hexs(64), word(), rng.IntN(1<<20))
		case k == 9:
			line = fmt.Sprintf("- %s%s%s contacted %s, sha1 %s", word(), dot(), tlds[rng.IntN(len(tlds))], ip(), hexs(40))
		case k == 10:
			scheme := "hxxps"
			if rng.IntN(2) == 0 {
				scheme = "https"
			}
			line = fmt.Sprintf("Payload fetched from %s://%s%s%s/%s.php?id=%d, md5 %s.", scheme, word(), dot(), tlds[rng.IntN(len(tlds))], word(), rng.IntN(1000), hexs(32))
		default:
			line = fmt.Sprintf("May 17 10:22:31 fw01 deny tcp src=%s dst=%s dport=443 host=%s.%s", ip(), ip(), word(), tlds[rng.IntN(len(tlds))])
		}
		n, err := w.WriteString(line + "\n")
		if err != nil {
			f.Close()
			return err
		}
		written += n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// countsLine turns the "type<TAB>count" lines of vex extract --count into
// one line, "md5 12, sha1 3, ...".
func countsLine(out string) string {
	var parts []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		parts = append(parts, strings.Join(strings.Fields(line), " "))
	}
	return strings.Join(parts, ", ")
}
