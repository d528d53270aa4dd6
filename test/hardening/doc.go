// Package hardening holds the end-to-end tests that check vex under
// faults, hostile input, concurrent use of one data directory, storage
// failures and resource limits. It has no code of its own: every test
// drives the CLI, the osquery extension or the Splunk command against the
// fake VirusTotal on 127.0.0.1, and docs/SECURITY.md cites each test by
// name.
package hardening
