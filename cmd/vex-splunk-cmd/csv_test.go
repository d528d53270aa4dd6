package main

import (
	"bytes"
	"encoding/csv"
)

// splunkCSV parses a reply body with encoding/csv, an implementation
// independent of the command's own parser.
func splunkCSV(body []byte) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	return r.ReadAll()
}
