package splunk

// render writes the parsed chunk back with the output fields added. Input
// columns keep their order and values; output fields already in the input,
// as after a second `| vex`, are overwritten in place.
func (c *command) render(field, mv int) []byte {
	n := len(c.tbl.header)
	plainAt := make([]int, len(outputFields))
	mvAt := make([]int, len(outputFields))
	extra := 0

	// Header: the input columns, then each new output field and its
	// __mv_ partner.
	out := c.out[:0]
	for i, h := range c.tbl.header {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendField(out, h)
	}
	for k, f := range outputFields {
		name := c.args.Prefix + f
		plainAt[k], mvAt[k] = c.tbl.column(name), c.tbl.column(mvPrefix+name)
		if plainAt[k] < 0 {
			plainAt[k] = n + extra
			extra++
			out = appendStringField(append(out, ','), name)
		}
		if mvAt[k] < 0 {
			mvAt[k] = n + extra
			extra++
			out = appendStringField(append(out, ','), mvPrefix+name)
		}
	}
	out = append(out, '\n')

	// encoded marks the columns whose cells rowOut holds CSV-encoded.
	encoded := make([]bool, n+extra)
	for k := range outputFields {
		encoded[plainAt[k]], encoded[mvAt[k]] = true, true
	}
	if cap(c.rowOut) < n+extra {
		c.rowOut = make([][]byte, n+extra)
	}
	c.rowOut = c.rowOut[:n+extra]

	// appendOnly: every output column is new, so a single-valued row is its
	// input fields followed by the value's precomputed segment.
	appendOnly := extra == 2*len(outputFields)

	for i := range c.tbl.rows {
		row := c.tbl.row(i)
		single, multi := rowValues(row, field, mv)
		if appendOnly && len(multi) == 0 {
			v := blankCells
			if single != nil {
				if v = c.memo[string(single)]; v == nil {
					v = blankCells
				}
			}
			for j, f := range row {
				if j > 0 {
					out = append(out, ',')
				}
				out = appendField(out, f)
			}
			out = append(append(out, v.segment...), '\n')
			continue
		}

		copy(c.rowOut, row)
		switch {
		case single != nil:
			c.fillSingle(c.memo[string(single)], plainAt, mvAt)
		case len(multi) > 0:
			c.fillMulti(multi, plainAt, mvAt)
		default:
			c.fillSingle(blankCells, plainAt, mvAt)
		}
		for j, f := range c.rowOut {
			if j > 0 {
				out = append(out, ',')
			}
			if encoded[j] {
				out = append(out, f...)
			} else {
				out = appendField(out, f)
			}
		}
		out = append(out, '\n')
	}
	c.out = out
	return out
}

func (c *command) fillSingle(v *cells, plainAt, mvAt []int) {
	if v == nil {
		// Only a value whose lookup was skipped has no cells; render it
		// like an event without a value.
		v = blankCells
	}
	for k := range outputFields {
		c.rowOut[plainAt[k]] = v.csvField(k)
		c.rowOut[mvAt[k]] = nil
	}
	c.rowOut[mvAt[tagsColumn]] = v.tagsMV()
}

// fillMulti renders a multivalue input: each output field holds one value
// per input value, in the same order, and tags hold the union of tags.
func (c *command) fillMulti(values []string, plainAt, mvAt []int) {
	per := make([]string, len(values))
	for k := range outputFields {
		if k == tagsColumn {
			continue
		}
		for i, v := range values {
			per[i] = ""
			if cv := c.memo[v]; cv != nil {
				per[i] = cv.plainField(k)
			}
		}
		c.rowOut[plainAt[k]] = appendField(nil, joinLines(per))
		c.rowOut[mvAt[k]] = appendField(nil, appendMultivalue(nil, per))
	}

	var tags []string
	seen := make(map[string]bool)
	for _, v := range values {
		if cv := c.memo[v]; cv != nil {
			for _, t := range cv.tags {
				if !seen[t] {
					seen[t] = true
					tags = append(tags, t)
				}
			}
		}
	}
	c.rowOut[plainAt[tagsColumn]] = appendField(nil, joinLines(tags))
	c.rowOut[mvAt[tagsColumn]] = nil
	if len(tags) > 1 {
		c.rowOut[mvAt[tagsColumn]] = appendField(nil, appendMultivalue(nil, tags))
	}
}
