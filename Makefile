# hako — `make demo` shows it working, `make test` runs every test (CI runs this).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

HAKO := target/release/hako
DEMO_ROOT ?= /tmp/hako-demo
# Debian packages the tests and the demo need (busybox-static for the fixture image,
# umoci/skopeo for interop tests, util-linux's `script` for the pty test).
# Building needs libseccomp's headers and library (the seccomp compiler).
BUILD_PACKAGES := libseccomp-dev pkg-config
TEST_PACKAGES := busybox-static umoci skopeo python3 python3-cryptography util-linux iproute2 docker-registry apache2-utils openssl debootstrap nftables curl uidmap slirp4netns passt containerd docker.io fuse-overlayfs podman conmon runc
BENCH_PACKAGES := crun runc hyperfine podman debootstrap docker-registry skopeo

.PHONY: all build build-deps deps bench-deps demo test fuzz test-cgroup-v2 unit integration fixtures fixture-debian bench lint clean

all: build

build: build-deps
	cargo build --release

build-deps:
	@missing=""; for p in $(BUILD_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

# Installs what is missing; a fresh machine needs `apt-get update` first. Services the
# packages bring (dockerd, containerd) are not started: tests start private instances.
deps: build-deps
	@missing=""; for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; rc=$$?; \
		[ -n "$$guard" ] && rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

bench-deps:
	@missing=""; for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

fixtures: deps
	mkdir -p rootfs-fixtures/cache
	rootfs-fixtures/busybox.sh rootfs-fixtures/cache/busybox.tar

# Build hako, make a small image from the host's busybox, run a container in it.
demo: deps build fixtures
	@echo "== hako import (a busybox rootfs tarball becomes an image)"
	$(HAKO) --root $(DEMO_ROOT) import rootfs-fixtures/cache/busybox.tar busybox:latest
	$(HAKO) --root $(DEMO_ROOT) images
	@echo "== hako run: its own PID, mount, network, UTS, IPC and cgroup namespaces"
	$(HAKO) --root $(DEMO_ROOT) run --rm --hostname demo --memory 64m --pids-limit 50 busybox \
		sh -c 'echo "hello from $$(hostname), I am PID $$$$"; ps; grep CapEff /proc/self/status; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
	@echo "== what the kernel did (hako --trace)"
	$(HAKO) --root $(DEMO_ROOT) --trace run --rm busybox true

unit: build-deps
	cargo test --release --lib --bins

integration: deps build
	DEBIAN_FIXTURE=$(DEBIAN_FIXTURE) cargo test --release --test runtime

# Every lane runs and all failures are listed at the end (tools/test-lanes.sh).
test: deps fixture-debian
	DEBIAN_FIXTURE=$(DEBIAN_FIXTURE) FUZZ_CASES=$(FUZZ_CASES) tools/test-lanes.sh

# Hostile input: every parser fed generated input for a bounded time (src/fuzz_tests.rs).
FUZZ_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release --lib fuzz_tests

# The cgroup v2 runtime tests in a VM whose only hierarchy is cgroup2.
test-cgroup-v2:
	runtime-tests/cgroup-v2-lane.sh

DEBIAN_FIXTURE ?= /var/cache/hako-fixtures/debian-bookworm.tar.gz

# The Debian minbase rootfs (debootstrap), cached outside the checkout between runs.
fixture-debian: deps
	rootfs-fixtures/debian.sh $(DEBIAN_FIXTURE)

bench: deps bench-deps build fixtures fixture-debian
	DEBIAN_FIXTURE=$(DEBIAN_FIXTURE) bench/run.sh

lint: build-deps
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf rootfs-fixtures/cache
