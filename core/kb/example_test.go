package kb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vex-ioc/vex/core/kb"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kb-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	k, err := kb.Open(ctx, filepath.Join(dir, "kb.db"), kb.Options{})
	if err != nil {
		panic(err)
	}
	defer k.Close()

	// Defanged and upper-case forms name the same entry.
	k.AddTags(ctx, "evil[.]com", "phishing")
	k.AddNote(ctx, "EVIL.com", "seen in the March campaign")
	k.AddToWatchlist(ctx, "apt29", "evil.com.")

	local, err := k.Local(ctx, "evil.com")
	if err != nil {
		panic(err)
	}
	fmt.Println(local.Tags, local.Watchlists, local.Notes[0].Text)
	// Output: [phishing] [apt29] seen in the March campaign
}
