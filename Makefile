# vex build, test and demo targets. Extra targets live in mk/*.mk.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -s -w -X github.com/vex-ioc/vex/adapters/cli.Version=$(VERSION) -X github.com/vex-ioc/vex/adapters/cli.Commit=$(COMMIT)
BINARIES  := $(notdir $(wildcard cmd/*))
FUZZTIME  ?= 10s

.PHONY: all build test vet fuzz clean
all: build

build:
	@mkdir -p bin
	@for b in $(BINARIES); do \
		echo "go build -o bin/$$b ./cmd/$$b"; \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$$b ./cmd/$$b || exit 1; \
	done

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -timeout 9m ./...

# fuzz runs every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "fuzz $$pkg $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -rf bin dist

-include mk/*.mk

# demo triages the example IOC list against the fake VirusTotal, offline.
.PHONY: demo
demo: build
	./scripts/demo.sh
