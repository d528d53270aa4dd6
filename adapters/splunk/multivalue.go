package splunk

import "bytes"

// mvPrefix names the partner column that carries a multivalue field's
// values: column f has partner __mv_f holding "$a$;$b$", where a '$' inside
// a value is doubled. Splunk leaves the partner empty for single values.
const mvPrefix = "__mv_"

// splitMultivalue decodes an __mv_ cell into its values. It reports false
// when the cell is not in that encoding, so the caller falls back to the
// plain column.
func splitMultivalue(cell []byte) ([]string, bool) {
	if len(cell) < 2 || cell[0] != '$' {
		return nil, false
	}
	var (
		values []string
		cur    []byte
		i      = 1
	)
	for i < len(cell) {
		c := cell[i]
		if c != '$' {
			cur = append(cur, c)
			i++
			continue
		}
		if i+1 < len(cell) && cell[i+1] == '$' {
			cur = append(cur, '$')
			i += 2
			continue
		}

		// A single '$' closes the value: the cell ends, or ";$" opens the next.
		values = append(values, string(cur))
		cur = cur[:0]
		switch {
		case i+1 == len(cell):
			return values, true
		case i+2 < len(cell) && cell[i+1] == ';' && cell[i+2] == '$':
			i += 3
		default:
			return nil, false
		}
	}
	return nil, false
}

// appendMultivalue appends the __mv_ encoding of values to dst.
func appendMultivalue(dst []byte, values []string) []byte {
	for i, v := range values {
		if i > 0 {
			dst = append(dst, ';')
		}
		dst = append(dst, '$')
		for j := 0; j < len(v); j++ {
			if v[j] == '$' {
				dst = append(dst, '$')
			}
			dst = append(dst, v[j])
		}
		dst = append(dst, '$')
	}
	return dst
}

// joinLines returns values joined by newlines, the plain-column form of a
// multivalue field that Splunk shows when the __mv_ partner is ignored.
func joinLines(values []string) []byte {
	var b bytes.Buffer
	for i, v := range values {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(v)
	}
	return b.Bytes()
}
