# Splunk app: `make splunk-app` builds dist/TA-vex-$(SPLUNK_APP_VERSION).tgz.
#
# The command links mattn/go-sqlite3, which needs cgo, so each platform
# needs a C compiler for that platform. linux_x86_64 is always built (the
# host gcc, or CC_linux_amd64 when the host is not linux/amd64).
# darwin_x86_64 and windows_x86_64 are built only when a cross compiler is
# named (CC_darwin_amd64, e.g. osxcross's o64-clang; CC_windows_amd64,
# e.g. x86_64-w64-mingw32-gcc) or found on PATH; otherwise they are left
# out with a message, and the app serves Linux search heads only.
SPLUNK_APP          := TA-vex
SPLUNK_APP_VERSION  ?= 0.1.0
SPLUNK_STAGE        := dist/splunk/$(SPLUNK_APP)
SPLUNK_TGZ          := dist/$(SPLUNK_APP)-$(SPLUNK_APP_VERSION).tgz
CC_linux_amd64      ?= $(if $(filter Linux-x86_64,$(shell uname -sm | tr ' ' -)),gcc,$(shell command -v x86_64-linux-gnu-gcc))
CC_darwin_amd64     ?= $(shell command -v o64-clang)
CC_windows_amd64    ?= $(shell command -v x86_64-w64-mingw32-gcc)

.PHONY: splunk-app splunk-appinspect

# splunk_bin builds the command for GOOS $(1) into platform folder $(2)
# with C compiler $(3), or explains why it is skipped.
define splunk_bin
	@if [ -n "$(3)" ]; then \
		echo "go build $(1)/amd64 -> $(SPLUNK_STAGE)/$(2)/bin/$(4)"; \
		CGO_ENABLED=1 CC="$(3)" GOOS=$(1) GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS) -X main.version=$(VERSION)' \
			-o $(SPLUNK_STAGE)/$(2)/bin/$(4) ./cmd/vex-splunk-cmd || exit 1; \
	else \
		echo "splunk-app: skipping $(2): no C compiler for $(1)/amd64 (set CC_$(1)_amd64); go-sqlite3 needs cgo"; \
	fi
endef

splunk-app:
	rm -rf dist/splunk $(SPLUNK_TGZ)
	mkdir -p $(SPLUNK_STAGE)
	cp -R packaging/splunk/$(SPLUNK_APP)/. $(SPLUNK_STAGE)/
	cp packaging/splunk/README.md $(SPLUNK_STAGE)/README.md
	sed -i.bak 's/@VERSION@/$(SPLUNK_APP_VERSION)/g' $(SPLUNK_STAGE)/default/app.conf && rm $(SPLUNK_STAGE)/default/app.conf.bak
	$(call splunk_bin,linux,linux_x86_64,$(CC_linux_amd64),vex)
	@test -x $(SPLUNK_STAGE)/linux_x86_64/bin/vex || { echo "splunk-app: the linux_x86_64 binary is required"; exit 1; }
	$(call splunk_bin,darwin,darwin_x86_64,$(CC_darwin_amd64),vex)
	$(call splunk_bin,windows,windows_x86_64,$(CC_windows_amd64),vex.exe)
	chmod -R u=rwX,go=rX $(SPLUNK_STAGE)
	tar -C dist/splunk --owner=0 --group=0 --numeric-owner -czf $(SPLUNK_TGZ) $(SPLUNK_APP)
	@echo "built $(SPLUNK_TGZ)"

# splunk-appinspect runs Splunk AppInspect on the package ($VEX_APPINSPECT,
# installed by .ci/install.d/30-splunk.sh). The aarch64_compatibility
# check is left out: it fails every x86-64 binary in an app, whatever the
# platform folder, and this app ships x86-64 builds only. The separate
# indexer-tier ARM check still runs and passes, because distsearch.conf
# keeps the binaries off search peers.
SPLUNK_APPINSPECT_FLAGS := --mode precert --excluded-tags aarch64_compatibility
splunk-appinspect: splunk-app
	$${VEX_APPINSPECT:-splunk-appinspect} inspect $(SPLUNK_TGZ) $(SPLUNK_APPINSPECT_FLAGS)
