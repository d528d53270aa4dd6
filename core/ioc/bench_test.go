package ioc

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// mixedText builds about size bytes of report-like text: prose, log lines,
// CSV rows with hashes, defanged and plain domains, IPs and URLs, with LF
// and CRLF endings. proseLines of every 8 lines are prose without
// indicators. The seed is fixed so every run measures the same input.
func mixedText(size, proseLines int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	hex := func(n int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, n)
		for i := range b {
			b[i] = digits[r.IntN(16)]
		}
		return string(b)
	}
	word := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyz"
		b := make([]byte, 4+r.IntN(8))
		for i := range b {
			b[i] = letters[r.IntN(26)]
		}
		return string(b)
	}
	tlds := []string{"com", "net", "org", "ru", "top", "xyz", "info", "io"}
	prose := []string{
		"The actor used spear-phishing emails with malicious attachments to gain initial access.",
		"After execution, the loader decrypts its configuration and contacts the command server.",
		"We observed lateral movement using stolen credentials and remote services (T1021).",
		"Persistence is achieved through a scheduled task named UpdateCheck, see Table 3.",
		"| Indicator | Type | First seen | Notes |",
	}

	var buf bytes.Buffer
	for buf.Len() < size {
		k := r.IntN(8)
		if k < proseLines {
			buf.WriteString(prose[r.IntN(len(prose))])
			buf.WriteString("\n")
			continue
		}
		switch 3 + r.IntN(5) {
		case 3:
			fmt.Fprintf(&buf, "sha256,%s,%s.dll,%d\r\n", hex(64), word(), r.IntN(1<<20))
		case 4:
			fmt.Fprintf(&buf, "- %s[.]%s - %d.%d.%d[.]%d\n", word(), tlds[r.IntN(len(tlds))], 1+r.IntN(223), r.IntN(256), r.IntN(256), r.IntN(256))
		case 5:
			fmt.Fprintf(&buf, "2024-05-0%d 12:%02d:%02d src=10.0.%d.%d dst=%d.%d.%d.%d:443 host=%s.%s bytes=%d\n",
				1+r.IntN(9), r.IntN(60), r.IntN(60), r.IntN(256), r.IntN(256), 1+r.IntN(223), r.IntN(256), r.IntN(256), r.IntN(256), word(), tlds[r.IntN(len(tlds))], r.IntN(100000))
		case 6:
			fmt.Fprintf(&buf, "Payload fetched from hxxps://%s.%s/%s/%s.php?id=%d, md5 %s.\n", word(), tlds[r.IntN(len(tlds))], word(), word(), r.IntN(1000), hex(32))
		case 7:
			fmt.Fprintf(&buf, "|`+%s+` |Win32/Agent.%s |dropper for %s.exe\n", hex(40), word(), word())
		}
	}
	return buf.Bytes()
}

// BenchmarkExtract measures extraction throughput on 16 MiB of generated
// text: "dense" has indicators on 5 of 8 lines (an IOC appendix or list),
// "report" on 1 of 8 (prose with some indicators).
func BenchmarkExtract(b *testing.B) {
	for _, c := range []struct {
		name  string
		prose int
	}{{"dense", 3}, {"report", 7}} {
		b.Run(c.name, func(b *testing.B) {
			benchmarkExtract(b, mixedText(16<<20, c.prose))
		})
	}
}

func benchmarkExtract(b *testing.B, text []byte) {
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	cpu0 := cpuTime()
	for b.Loop() {
		n = 0
		err := Extract(bytes.NewReader(text), ExtractOptions{}, func(Match) error {
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "iocs/op")
	// On a shared machine wall time includes waiting for a core; MB per
	// CPU second shows the cost of the code itself.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(len(text))*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkParse(b *testing.B) {
	inputs := []string{"hxxps://example[.]com/path[.]php", "198.51[.]100[.]7", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "test.公司.cn", "2001:db8::1"}
	for b.Loop() {
		for _, s := range inputs {
			if _, err := Parse(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestMixedTextExtracts(t *testing.T) {
	// Guards the benchmark input: it must contain every type it claims to.
	text := mixedText(256<<10, 3)
	got := map[Type]int{}
	if err := Extract(io.NopCloser(bytes.NewReader(text)), ExtractOptions{}, func(m Match) error {
		got[m.IOC.Type]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []Type{MD5, SHA1, SHA256, IPv4, Domain, URL} {
		if got[typ] == 0 {
			t.Errorf("no %s in the benchmark text", typ)
		}
	}
}
