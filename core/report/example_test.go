package report_test

import (
	"fmt"
	"os"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/report"
	"github.com/vex-ioc/vex/core/verdict"
)

func ExampleSanitize() {
	// An engine label that would retitle the terminal window and reverse
	// the rest of the line.
	fmt.Printf("%q\n", report.Sanitize("Trojan\x1b]0;owned\x07.Agent \u202Eexe.pdf"))
	// Output: "Trojan.Agent exe.pdf"
}

func ExampleSummaryLine() {
	var totals report.Totals
	totals.Add(enrich.Result{Status: enrich.StatusOK, Verdict: verdict.Malicious})
	totals.Add(enrich.Result{Status: enrich.StatusOK, Verdict: verdict.Clean})
	totals.Add(enrich.Result{Status: enrich.StatusQuota})
	totals.Add(enrich.Result{Status: enrich.StatusInvalid})
	fmt.Println(report.SummaryLine(totals))
	// Output: 4 IOCs: 1 malicious, 0 suspicious, 1 clean, 1 unknown (1 not looked up), 1 invalid
}

func ExampleNewWriter() {
	w, err := report.NewWriter(report.FormatConsole, os.Stdout, report.Options{Defang: true})
	if err != nil {
		panic(err)
	}
	results := []enrich.Result{{
		Input: "login[.]example[.]com", Type: "domain", Normalized: "login.example.com",
		Status: enrich.StatusNotFound, Verdict: verdict.Unknown,
	}}
	var totals report.Totals
	for _, r := range results {
		totals.Add(r)
		if err := w.Write(r); err != nil {
			panic(err)
		}
	}
	if err := w.Close(totals); err != nil {
		panic(err)
	}
	// Output: UNKNOWN     domain  login.example[.]com  -  not in VirusTotal
}
