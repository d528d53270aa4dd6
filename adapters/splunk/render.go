package splunk

// render writes the parsed chunk back with the output fields added. Input
// columns keep their order and bytes; output fields already in the input,
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

	var blank cells
	blank.plain = make([][]byte, len(outputFields))
	for i := range c.tbl.rows {
		row := c.tbl.row(i)
		c.rowOut = append(append(c.rowOut[:0], row...), make([][]byte, extra)...)
		single, multi := rowValues(row, field, mv)
		switch {
		case single != nil:
			c.fillSingle(c.memo[string(single)], plainAt, mvAt)
		case len(multi) > 0:
			c.fillMulti(multi, plainAt, mvAt)
		default:
			c.fillSingle(&blank, plainAt, mvAt)
		}
		for j, f := range c.rowOut {
			if j > 0 {
				out = append(out, ',')
			}
			out = appendField(out, f)
		}
		out = append(out, '\n')
	}
	c.out = out
	return out
}

// tagsMV caches nothing: a single value's tags are encoded per row only
// when there are two or more, which keeps the common case copy-free.
func (c *command) fillSingle(v *cells, plainAt, mvAt []int) {
	if v == nil {
		v = &cells{plain: make([][]byte, len(outputFields))}
	}
	for k := range outputFields {
		c.rowOut[plainAt[k]] = v.plain[k]
		c.rowOut[mvAt[k]] = nil
	}
	if len(v.tags) > 1 {
		c.rowOut[mvAt[tagsColumn]] = appendMultivalue(nil, v.tags)
	}
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
			if cv := c.memo[v]; cv != nil {
				per[i] = string(cv.plain[k])
			} else {
				per[i] = ""
			}
		}
		c.rowOut[plainAt[k]] = joinLines(per)
		c.rowOut[mvAt[k]] = appendMultivalue(nil, per)
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
	c.rowOut[plainAt[tagsColumn]] = joinLines(tags)
	c.rowOut[mvAt[tagsColumn]] = nil
	if len(tags) > 1 {
		c.rowOut[mvAt[tagsColumn]] = appendMultivalue(nil, tags)
	}
}
