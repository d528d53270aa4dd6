# osquery extension: `make osquery-ext` builds bin/vex.ext. osqueryd only
# autoloads files named *.ext; see packaging/osquery/README.md to install.
.PHONY: osquery-ext
osquery-ext:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS) -X main.version=$(VERSION)' -o bin/vex.ext ./cmd/vex-osquery-ext
