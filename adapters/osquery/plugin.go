package osquery

import (
	"context"
	"log/slog"
	"strconv"

	osq "github.com/osquery/osquery-go"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/plugin/table"
)

// generateFunc produces the rows of one table call. It reports per-row
// problems in the rows themselves and never fails the call.
type generateFunc func(ctx context.Context, qc QueryContext) []map[string]string

// tablePlugin is an osquery table plugin. It replaces osquery-go's table
// plugin so that context parsing is ours (and fuzzed), and so that every
// call also stops when the extension shuts down.
type tablePlugin struct {
	name     string
	columns  []table.ColumnDefinition
	generate generateFunc
	stop     context.Context // cancelled when the extension shuts down
	logger   *slog.Logger
}

var _ osq.OsqueryPlugin = (*tablePlugin)(nil)

func (p *tablePlugin) Name() string         { return p.name }
func (p *tablePlugin) RegistryName() string { return "table" }

// Routes returns the column definitions osquery reads at registration:
// name, type and the options bitmask (index, required, optimized, hidden).
func (p *tablePlugin) Routes() osquery.ExtensionPluginResponse {
	routes := make(osquery.ExtensionPluginResponse, 0, len(p.columns))
	for _, c := range p.columns {
		routes = append(routes, map[string]string{
			"id":   "column",
			"name": c.Name,
			"type": string(c.Type),
			"op":   strconv.Itoa(int(c.Options())),
		})
	}
	return routes
}

func (p *tablePlugin) Ping() osquery.ExtensionStatus {
	return osquery.ExtensionStatus{Code: 0, Message: "OK"}
}

// Shutdown does nothing: the extension cancels the stop context instead,
// because extensionServer never calls a plugin's Shutdown.
func (p *tablePlugin) Shutdown() {}

// Call answers the "generate" and "columns" actions. A non-zero status is
// returned only for requests osquery itself never sends (an unknown action
// or a context that is not JSON); per-IOC problems are rows.
func (p *tablePlugin) Call(ctx context.Context, req osquery.ExtensionPluginRequest) osquery.ExtensionResponse {
	switch req["action"] {
	case "generate":
		qc, err := ParseContext(req["context"])
		if err != nil {
			p.logger.ErrorContext(ctx, "invalid query context from osquery", "table", p.name, "error", err)
			return failure("table " + p.name + ": " + err.Error())
		}

		// Stop when osquery hangs up (Thrift cancels ctx) or the extension
		// shuts down, whichever comes first.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		release := context.AfterFunc(p.stop, cancel)
		defer release()

		rows := p.generate(ctx, qc)
		if rows == nil {
			rows = []map[string]string{}
		}
		return osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 0, Message: "OK"}, Response: rows}

	case "columns":
		return osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 0, Message: "OK"}, Response: p.Routes()}
	}
	return failure("table " + p.name + ": unknown action " + strconv.Quote(req["action"]))
}

func failure(msg string) osquery.ExtensionResponse {
	return osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 1, Message: msg}}
}
