package osquery

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/vex-ioc/vex/core/enrich"
)

// InvestigateColumns returns the columns of vex_investigate. The table
// has one row per related object of each investigated IOC. A section
// without objects (empty, needing a premium key, or failed) still gets one
// row with section_status set and the related columns empty, so a gap
// never looks like "nothing related". An IOC that could not be
// investigated gets one row with only error set.
func InvestigateColumns() []table.ColumnDefinition {
	return append(inputColumns(),
		table.TextColumn("section", table.ColumnDescription("relationship, e.g. contacted_ips, resolutions, communicating_files")),
		table.TextColumn("related_type", table.ColumnDescription("VirusTotal object type: file, domain, ip_address, url, resolution")),
		table.TextColumn("related_id"),
		table.TextColumn("related_name", table.ColumnDescription("file name, host name, address or URL, when known")),
		table.TextColumn("related_verdict", table.ColumnDescription("MALICIOUS, SUSPICIOUS, CLEAN or UNKNOWN; empty when the list carries no analysis")),
		table.IntegerColumn("related_malicious"),
		table.IntegerColumn("related_engines"),
		table.TextColumn("section_status", table.ColumnDescription("ok, requires_premium, error or skipped")),
		table.TextColumn("error"),
	)
}

// investigateRows turns one result into vex_investigate rows.
func investigateRows(in lookupInput, r enrich.Result) []map[string]string {
	base := func() map[string]string {
		return map[string]string{colIOC: in.ioc, colOffline: in.offlineRaw, colMaxAge: in.maxAgeRaw}
	}
	fail := func(msg string) []map[string]string {
		row := base()
		row["error"] = msg
		return []map[string]string{row}
	}
	switch {
	case r.Status == enrich.StatusNotFound:
		return fail("not in VirusTotal")
	case r.Status != enrich.StatusOK:
		return fail(statusMessage(r))
	case r.Investigation == nil:
		return fail("no investigation in the result; query again with max_age = 1 to refresh it")
	}

	var rows []map[string]string
	for _, sec := range r.Investigation.Sections {
		if len(sec.Items) == 0 {
			row := base()
			row["section"], row["section_status"], row["error"] = sec.Name, sec.Status, sec.Error
			rows = append(rows, row)
			continue
		}
		for _, it := range sec.Items {
			row := base()
			row["section"], row["section_status"] = sec.Name, sec.Status
			row["related_type"], row["related_id"], row["related_name"] = it.Type, it.ID, it.Name
			if it.Engines > 0 {
				row["related_verdict"] = it.Verdict.String()
				row["related_malicious"] = strconv.Itoa(it.Malicious)
				row["related_engines"] = strconv.Itoa(it.Engines)
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// newInvestigate builds the vex_investigate table. It shares lookupTable
// with vex_triage, so both use one rate limiter, cache and call deadline.
// An investigation spends several requests per IOC, so a cold query takes
// longer than a triage.
func newInvestigate(engine Engine, s Settings, stop context.Context, logger *slog.Logger) *tablePlugin {
	t := &lookupTable{name: "vex_investigate", engine: engine, settings: s, logger: logger, mode: enrich.Investigate}
	return &tablePlugin{
		name:    t.name,
		columns: InvestigateColumns(),
		stop:    stop,
		logger:  logger,
		generate: func(ctx context.Context, qc QueryContext) []map[string]string {
			inputs := t.inputs(qc)
			results := t.lookupAll(ctx, inputs)

			var rows []map[string]string
			for i, in := range inputs {
				rows = append(rows, investigateRows(in, results[i])...)
			}
			for _, c := range qc.Other(colIOC) {
				rows = append(rows, map[string]string{colIOC: c.Expr, "error": t.unsupportedMessage(c)})
			}
			t.logCall(ctx, inputs, results)
			return rows
		},
	}
}
