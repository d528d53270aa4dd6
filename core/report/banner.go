package report

import (
	"fmt"
	"io"
	"strings"
)

// bannerArt is the vex logo, four lines of plain ASCII so it renders on any
// terminal font.
var bannerArt = []string{
	` __   __ ___ __  __`,
	` \ \ / /| __|\ \/ /`,
	`  \ V / | _|  >  < `,
	`   \_/  |___|/_/\_\`,
}

// Banner writes the vex logo with version beside it and a blank line after.
// Callers write it to stderr, and only when stderr is a terminal, so that
// pipes and logs never carry it.
func Banner(w io.Writer, version string) error {
	version = Sanitize(strings.TrimSpace(version))
	if version == "" {
		version = "dev"
	}
	lines := append([]string(nil), bannerArt...)
	lines[2] += "   vex " + version
	lines[3] += "   IOC enrichment with VirusTotal"
	if _, err := fmt.Fprintf(w, "%s\n\n", strings.Join(lines, "\n")); err != nil {
		return fmt.Errorf("write banner: %w", err)
	}
	return nil
}
