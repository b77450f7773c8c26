# zerofsd — build, run, test.
#   make run     build and serve examples/zerofs.toml (local directories, no S3 needed)
#   make test    the whole suite; installs what it needs (versitygw, libnfs-utils, the nfsvm kernel client)

GO        ?= go
BIN       := bin/zerofsd
PREFIX    ?= /usr/local
CONFIG    ?= examples/zerofs.toml
GOBIN      = $(shell $(GO) env GOPATH)/bin
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
TEST_TIMEOUT ?= 20m

.PHONY: all build run test test-deps test-go test-race install lint lint-deps bench torture clean

all: build

# build always runs go build (it knows what changed, and stamps the version).
# $(BIN) as a file is built only when missing or older than a source: that is
# what install needs, so that `make build` then `sudo make install` runs go as
# the user only (sudo's PATH rarely has go, and bin/ stays the user's).
GO_BUILD   = $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/zerofsd
SOURCES    = $(shell find . -name '*.go' ! -name '*_test.go' ! -path './bench/*') go.mod go.sum

build:
	$(GO_BUILD)

$(BIN): $(SOURCES)
	$(GO_BUILD)

run: build
	./$(BIN) run -c $(CONFIG)

# test installs what the suite needs, then runs lint, every test (the Go packages with
# the S3 contract tests against a real versitygw, and the end-to-end tests of the real
# daemon through our Go client, libnfs and the Linux kernel client in a VM), and the
# unit packages again under the race detector.
test: test-deps lint test-go test-race

test-deps:
	./scripts/test-deps.sh

# ZEROFS_REQUIRE_S3, ZEROFS_REQUIRE_KERNEL and ZEROFS_REQUIRE_HOST make a missing
# versitygw, kernel client VM, or host tool or privilege (libnfs-utils, nfs-common,
# rpcbind, cpio, port 111, root) fail the tests that need them instead of skipping
# them (internal/testenv/require); ZEROFS_NFSVM turns on the nfs package's kernel
# client test.
test-go:
	PATH="$(GOBIN):$$PATH" ZEROFS_REQUIRE_S3=1 ZEROFS_REQUIRE_KERNEL=1 ZEROFS_REQUIRE_HOST=1 ZEROFS_NFSVM=1 AWS_EC2_METADATA_DISABLED=true $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# test-race runs every package except the end-to-end and benchmark ones with -race.
RACE_PKGS = $(shell $(GO) list ./... | grep -v -e /e2e -e /bench/)
test-race:
	PATH="$(GOBIN):$$PATH" ZEROFS_REQUIRE_S3=1 ZEROFS_REQUIRE_HOST=1 AWS_EC2_METADATA_DISABLED=true $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

BINDIR    := $(PREFIX)/bin
DOCDIR    := $(PREFIX)/share/doc/zerofsd

# install puts the binary, the systemd unit (run as the zerofs user, which is
# created here through systemd-sysusers unless DESTDIR is set), the docs the unit
# points to, /etc/zerofs (mode 0750, group zerofs when that group exists), a
# starting config in it (0640) and an empty zerofs.env for secrets (0600, root's
# only), never overwriting either. It builds the binary only if it is missing or
# out of date: run `make build` first as yourself.
install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/zerofsd
	install -d $(DESTDIR)/etc/systemd/system
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' systemd/zerofsd.service \
		> $(DESTDIR)/etc/systemd/system/zerofsd.service
	chmod 0644 $(DESTDIR)/etc/systemd/system/zerofsd.service
	install -D -m 0644 systemd/zerofsd.sysusers $(DESTDIR)/usr/lib/sysusers.d/zerofsd.conf
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -d $(DESTDIR)$(DOCDIR)/docs
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then systemd-sysusers zerofsd.conf; fi
	install -d -m 0750 $(DESTDIR)/etc/zerofs
	@if [ -z "$(DESTDIR)" ] && getent group zerofs >/dev/null; then chgrp zerofs /etc/zerofs; fi
	@if [ -e $(DESTDIR)/etc/zerofs/zerofs.toml ]; then \
		echo "keeping existing $(DESTDIR)/etc/zerofs/zerofs.toml"; \
	else \
		install -m 0640 examples/zerofs.system.toml $(DESTDIR)/etc/zerofs/zerofs.toml; \
		if [ -z "$(DESTDIR)" ] && getent group zerofs >/dev/null; then chgrp zerofs /etc/zerofs/zerofs.toml; fi; \
	fi
	@if [ -e $(DESTDIR)/etc/zerofs/zerofs.env ]; then \
		echo "keeping existing $(DESTDIR)/etc/zerofs/zerofs.env"; \
	else \
		install -m 0600 /dev/null $(DESTDIR)/etc/zerofs/zerofs.env; \
	fi

# lint: gofmt, go vet and staticcheck (installed by test-deps, or: make lint-deps).
STATICCHECK_VERSION := v0.8.2
lint-deps:
	@[ -x "$(GOBIN)/staticcheck" ] || (cd /tmp && $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION))

lint: lint-deps
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...

bench:
	PATH="$(GOBIN):$$PATH" $(GO) test -run '^$$' -bench . -benchtime 2s ./...

torture: build
	PATH="$(GOBIN):$$PATH" ZEROFS_TORTURE=1 ZEROFS_REQUIRE_S3=1 AWS_EC2_METADATA_DISABLED=true $(GO) test -count=1 -timeout 120m -run Torture ./...

clean:
	rm -rf bin data

# bench-fs runs file-system workloads through the Linux kernel NFS client (nfsvm) on zerofsd
# and on the alternatives (tmpfs, go-nfs over a local directory, s3fs, rclone) and writes
# docs/benchmarks/DATE-MACHINE.{md,png}. Every S3 target goes through one proxy that adds
# BENCHFS_LATENCY per request (default a region's: 20 ms per PUT/POST/DELETE, 10 ms per
# GET/HEAD; `none` for loopback S3 as it is).
# BENCHFS_FLAGS=-quick for a short run; -rounds N repeats every target N times, interleaved,
# and reports medians and ranges. Not part of `make test`.
BENCHFS_LATENCY ?= put=20ms,get=10ms
.PHONY: bench-fs
bench-fs:
	@command -v fio >/dev/null && command -v s3fs >/dev/null && command -v rclone >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fio s3fs rclone; }
	@command -v versitygw >/dev/null || [ -x "$(GOBIN)/versitygw" ] || $(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0
	PATH="$(GOBIN):$$PATH" $(GO) run ./bench/fs -s3-latency '$(BENCHFS_LATENCY)' $(BENCHFS_FLAGS)
