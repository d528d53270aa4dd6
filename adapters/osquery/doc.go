// Package osquery serves vex as osquery extension tables over osquery's
// Thrift extension API.
//
// The tables are vex_triage (one VirusTotal verdict per IOC in the WHERE
// clause), vex_investigate (one row per object related to an IOC), and
// vex_tags and vex_watchlist (the local knowledge base, no network).
//
// osquery fails a whole statement, joins included, when a table returns a
// non-zero status, so every per-IOC problem (invalid input, rate limit,
// timeout, quota) is a row with the error column set. osquery re-filters
// the returned rows against the WHERE clause, so every input column is
// echoed exactly as osquery sent it. Each call runs under its own deadline,
// well under the 300 s Thrift timeout osquery puts on a call, and stops when
// osquery drops the connection or the extension shuts down.
package osquery
