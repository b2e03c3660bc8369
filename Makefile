# pluginhost — build, run and test. Needs only the Rust toolchain (cargo).

CARGO       ?= cargo
TARGET_DIR  := $(CURDIR)/target/debug
RUN_PREFIX  := $(CURDIR)/run
RUN_PLUGINS := $(RUN_PREFIX)/plugins
PLUGINHOST  := $(TARGET_DIR)/pluginhost
SOCKET      := $(RUN_PREFIX)/go_pluginserver.sock
SAMPLES     := hello log key-auth rate-limit request-transformer response-headers token-introspection
comma       := ,
empty       :=
space       := $(empty) $(empty)

.PHONY: all build embedded fixtures plugins redis-server run test lint doc bench bench-build bench-baseline bench-smoke soak fuzz perf docs package clean

all: build

## build: compile pluginhost, plugin-abi, the sample plugins and the test tools
build:
	$(CARGO) build --workspace

## embedded: the plugins that also build as executables serving themselves (one plugin per
## process): target/debug/hello, panicky, hello-v2. Built before `build`, which then builds
## the plugin files again without the server linked in.
EMBEDDED := hello panicky hello-v2
EMBEDDED_FEATURES := $(subst $(space),$(comma),$(foreach p,$(EMBEDDED),$(p)/embedded))
embedded:
	$(CARGO) build $(foreach p,$(EMBEDDED),-p $(p)) --features $(EMBEDDED_FEATURES) --bins

## fixtures: plugins built wrong on purpose, which the tests check pluginhost refuses
fixtures:
	$(CARGO) build -p hello --profile panic-abort

## plugins: put the sample plugins, as <name>.so, into run/plugins
plugins: build
	@mkdir -p $(RUN_PLUGINS)
	@for p in $(SAMPLES); do \
	  lib=$$(echo $$p | tr - _); \
	  cp $(TARGET_DIR)/lib$$lib.so $(RUN_PLUGINS)/.$$p.so.tmp && mv $(RUN_PLUGINS)/.$$p.so.tmp $(RUN_PLUGINS)/$$p.so; \
	done
	@echo "sample plugins in $(RUN_PLUGINS): $(SAMPLES)"

## run: build everything and serve the sample plugins on run/go_pluginserver.sock
run: plugins
	@echo
	@echo "pluginhost serves $(SAMPLES) on $(SOCKET); the kong.conf lines for each Kong"
	@echo "generation come from 'pluginhost kong-conf':"
	@for v in 3.9 3.8 2.2; do \
	  echo; $(PLUGINHOST) kong-conf -kong-version $$v -kong-prefix $(RUN_PREFIX) \
	    -plugins-directory $(RUN_PLUGINS) 2>/dev/null | sed 's/^/  /'; \
	done
	@echo
	@echo "(drop the start_cmd lines while this 'make run' server is running; Ctrl-C stops it)"
	@echo
	$(PLUGINHOST) -kong-prefix $(RUN_PREFIX) -plugins-directory $(RUN_PLUGINS)

## redis-server: Debian's redis-server, which the tests of rate-limit's redis policy start on
## a private socket; installed with apt when missing
redis-server:
	@command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || { \
	  echo "installing Debian's redis-server (for the rate-limit tests)"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }

## perf: Debian's linux-perf, with which make bench counts the server's system calls per event;
## installed with apt when missing
perf:
	@command -v perf >/dev/null 2>&1 || { \
	  echo "installing Debian's linux-perf (to count system calls in make bench)"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends linux-perf >/dev/null; }

## test: every test of the workspace (unit, integration against the real binary, doc)
test: embedded build fixtures redis-server
	$(CARGO) test --workspace

## bench: pluginhost against the echo and mock baselines (release build); writes
## bench/results/report.md and bench/results/plot.png. About 7 minutes.
RELEASE_DIR := $(CURDIR)/target/release
# Two cargo invocations: `--bin loadgen` would restrict every -p of the same command to a
# binary of that name, and build neither pluginhost nor a plugin.
bench-build:
	$(CARGO) build --release -p hello --features hello/embedded --bin hello
	$(CARGO) build --release -p pluginhost -p hello -p request-transformer -p blocker -p sleeper -p rate-limit \
	  -p token-introspection -p panicky
	$(CARGO) build --release -p kong-sim --bin loadgen
	@for f in pluginhost loadgen hello libhello.so librequest_transformer.so libblocker.so libsleeper.so librate_limit.so \
	  libtoken_introspection.so libpanicky.so; do \
	  test -f $(RELEASE_DIR)/$$f || { echo "make bench-build did not build $$f" >&2; exit 1; }; \
	done

BENCH_ARGS = --pluginhost $(RELEASE_DIR)/pluginhost --hello $(RELEASE_DIR)/libhello.so \
	  --hello-embedded $(RELEASE_DIR)/hello \
	  --transformer $(RELEASE_DIR)/librequest_transformer.so --blocker $(RELEASE_DIR)/libblocker.so \
	  --sleeper $(RELEASE_DIR)/libsleeper.so \
	  --rate-limit $(RELEASE_DIR)/librate_limit.so \
	  --token-introspection $(RELEASE_DIR)/libtoken_introspection.so \
	  --panicky $(RELEASE_DIR)/libpanicky.so

## BASELINE_REV=<git revision>: make bench also measures that revision's pluginhost (built in
## target/baseline) beside this one, for an A/B of a change: `make bench BASELINE_REV=HEAD~1`.
## The plugins it serves are that revision's builds too (a plugin matches its host's ABI).
BASELINE_REV ?=
BASELINE_SRC := $(CURDIR)/target/baseline-src
BASELINE_BIN := $(CURDIR)/target/baseline/release/pluginhost

bench-baseline:
ifneq ($(BASELINE_REV),)
	rm -rf $(BASELINE_SRC) && git worktree prune
	git worktree add --force --detach $(BASELINE_SRC) $(BASELINE_REV)
	$(CARGO) build --release -p pluginhost -p hello -p request-transformer -p blocker -p sleeper \
	  -p panicky --manifest-path $(BASELINE_SRC)/Cargo.toml --target-dir $(CURDIR)/target/baseline
	git worktree remove --force $(BASELINE_SRC)
endif

bench: bench-build bench-baseline redis-server perf
	$(RELEASE_DIR)/loadgen bench $(BENCH_ARGS) --out $(CURDIR)/bench/results \
	  $(if $(BASELINE_REV),--baseline $(BASELINE_BIN))

## bench-smoke: the whole benchmark, tiny, into a scratch directory: CI runs it to prove
## `make bench` builds and runs what it measures (its figures mean nothing)
bench-smoke: bench-build redis-server perf
	$(RELEASE_DIR)/loadgen bench $(BENCH_ARGS) --out $(CURDIR)/target/bench-smoke \
	  --in-flight 4 --rounds 1 --seconds 0.2 --abandoned 200 --dump-plugins 3

## fuzz: the framers and decoders of both dialects under libFuzzer, FUZZ_RUNS executions each (not part of
## CI; needs the nightly toolchain, installs cargo-fuzz if missing). Interesting inputs join
## host/fuzz/corpus/requests and host/fuzz/corpus/protobuf, which `make test` replays.
FUZZ_RUNS ?= 10000000
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd host/fuzz && $(CARGO) +nightly fuzz run requests -- -runs=$(FUZZ_RUNS) -max_len=65536
	cd host/fuzz && $(CARGO) +nightly fuzz run protobuf -- -runs=$(FUZZ_RUNS) -max_len=65536

## soak: hello at 16 in flight for 5 minutes, RSS every 10 s (not part of CI)
soak: bench-build
	$(RELEASE_DIR)/loadgen soak --pluginhost $(RELEASE_DIR)/pluginhost \
	  --hello $(RELEASE_DIR)/libhello.so --minutes 5 --out $(CURDIR)/bench/results

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy $(foreach p,$(EMBEDDED),-p $(p)) --features $(EMBEDDED_FEATURES) --bins -- -D warnings

## doc: the API docs of plugin-abi (the PDK reference) and pluginhost
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

## docs: the guide (mdBook, into docs/book/; it includes the changelog and the generated bench
## report) and the API docs, then every link of the README, the changelog and the guide checked
## (lychee, offline: files and anchors; mdBook's own 404 page is left out). The pinned mdbook
## and lychee are installed with cargo into target/tools when missing.
MDBOOK_VERSION := 0.5.4
LYCHEE_VERSION := 0.24.2
TOOLS  := $(CURDIR)/target/tools
MDBOOK := $(TOOLS)/bin/mdbook
LYCHEE := $(TOOLS)/bin/lychee
docs: doc $(MDBOOK) $(LYCHEE)
	$(MDBOOK) build docs
	$(LYCHEE) --offline --no-progress --include-fragments --exclude-path docs/book/404.html \
	  README.md CHANGELOG.md plugin-abi/README.md docs/src docs/book

$(MDBOOK):
	$(CARGO) install mdbook --version $(MDBOOK_VERSION) --locked --root $(TOOLS)

$(LYCHEE):
	$(CARGO) install lychee --version $(LYCHEE_VERSION) --locked --root $(TOOLS)

## package: cargo package for plugin-abi and its macros: each packaged crate is built on its
## own, from the files that would be published
package:
	$(CARGO) package -p plugin-abi-macros -p plugin-abi --allow-dirty

clean:
	$(CARGO) clean
	rm -rf $(RUN_PREFIX)
