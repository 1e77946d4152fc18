# peapod — the README's two commands are `make demo` and `make test`;
# .ci/run calls `make test`. `make help` lists every target.

GO        ?= go
BIN       := bin/peapod
OUT       := _output
# A private store for the demo and the tests' images, so a user's
# /var/lib/peapod is never touched by them.
ROOT      ?= $(CURDIR)/$(OUT)/root
RUN_ROOT  ?= /run/peapod-$(notdir $(CURDIR))
PEAPOD    := $(BIN) --root $(ROOT) --run-root $(RUN_ROOT)
# A count, not a duration: with -fuzztime as a duration, go1.26's fuzz
# coordinator can fail a target with a spurious "context deadline exceeded"
# at the end of the run (golang/go#75804, fixed in go1.27).
FUZZTIME  ?= 20000x
# make stress: how many times the integration suite runs in a row.
COUNT     ?= 10
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: help deps build images demo test lint test-unit test-integration stress fuzz bench bench-serve bench-cost reliability conformance test-cluster clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: ## install Debian packages and tools, prepare the host (idempotent)
	hack/install-deps.sh

# peapod is built static (CGO_ENABLED=0: the pure-Go resolver and user
# lookup; cgo was only theirs): no dynamic loader or libc start-up, 7-13 ms
# off every peapod process's start here. hack/*.sh and the tests that build
# the binary do the same.
build: ## build bin/peapod (and bin/kubectl-peapod, its kubectl plugin name: kubectl peapod why POD)
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/peapod
	ln -sf peapod $(dir $(BIN))kubectl-peapod

images: build ## build the local images (busybox, nginx, nginx-prometheus-exporter from Debian packages) and load them
	$(GO) run ./hack/mkimage -o $(OUT)/images/busybox busybox
	$(PEAPOD) image load $(OUT)/images/busybox
	for t in busybox:1.28 busybox:1.36; do $(PEAPOD) image tag busybox $$t; done
	$(GO) run ./hack/mkimage -o $(OUT)/images/nginx nginx
	$(PEAPOD) image load $(OUT)/images/nginx
	$(GO) run ./hack/mkimage -o $(OUT)/images/exporter exporter
	$(PEAPOD) image load $(OUT)/images/exporter

demo: deps images ## run the example multi-container pod (web + client + log tailer)
	$(PEAPOD) up -f examples/demo.yaml --image-pull=never --timeout 12s

test: deps lint test-unit test-integration fuzz ## the whole suite (CI runs this)

lint: ## gofmt, go vet, staticcheck
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt wants changes in:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) vet -tags integration,cluster ./internal/cli/
	$(STATICCHECK) ./...
	hack/third-party.sh --check

test-unit: ## unit tests (no root needed)
	$(GO) test -count=1 ./...

test-integration: build ## integration tests with real containers (root)
	$(GO) test -count=1 -p 1 -tags integration -timeout 20m ./...

stress: build ## the integration suite COUNT times in a row (default 10); any failure stops it
	@mkdir -p $(OUT); for i in $$(seq $(COUNT)); do \
	  start=$$(date +%s); \
	  $(GO) test -count=1 -p 1 -tags integration -timeout 20m ./... >$(OUT)/stress.log 2>&1 || { cat $(OUT)/stress.log; echo "stress: run $$i of $(COUNT) failed"; exit 1; }; \
	  echo "stress: run $$i of $(COUNT) passed in $$(( $$(date +%s) - start )) s:" $$(awk '$$1 == "ok" && $$3 ~ /s$$/ && $$3+0 >= 1 { sub("peapod/internal/", "", $$2); printf "%s %s, ", $$2, $$3 }' $(OUT)/stress.log); \
	done

fuzz: ## run each fuzz target for FUZZTIME executions
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: deps images ## peapod up vs podman kube play, medians and ratios
	hack/bench.sh

bench-serve: deps images ## peapod serve with kubectl: start, apply to Ready, 100 pods, idle RSS
	hack/bench-serve.sh

reliability: deps images ## kill -9, restarts, churn, store crashes, hostile input, escape probes, API access: PASS/FAIL each
	hack/reliability.sh

# The upstream control plane's binaries; built once, kept across runs.
CLUSTER_BIN ?= $(or $(PEAPOD_CLUSTER_OUT),$(HOME)/.cache/peapod-cluster)/bin

test-cluster: deps build ## peapod agent as the only node of the upstream control plane (built the first time: minutes)
	hack/cluster/build.sh
	PEAPOD_CLUSTER_BIN=$(CLUSTER_BIN) $(GO) test -count=1 -p 1 -tags integration,cluster -timeout 20m -run '^TestCluster' ./internal/cli/

conformance: deps build ## upstream e2e.test (the Pod conformance subset) against a fresh serve: N passed, M failed
	hack/conformance.sh

# make bench-cost BEFORE=<binary> AFTER=<binary>: size, up PSS, serve start and idle RSS of two builds.
bench-cost: deps images ## what a change costs: two peapod binaries measured in turns
	hack/bench-cost.sh $(BEFORE) $(AFTER)

clean: ## remove build output and the private store
	-$(PEAPOD) image ls >/dev/null 2>&1
	rm -rf $(BIN) $(OUT)
