# Atelier's front door. Every target does its own set-up: npm ci (which brings Node 24 from the npm
# registry), and the test-bed binaries (built from Go modules once, cached in ~/.cache/atelier).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eo pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

NAME ?= atelier
NODES ?= 2
GPUS ?= 4
GPU_MODEL ?= nvidia-h100
NODE_SPEC ?=
JEST_FLAGS ?=
export NODES GPUS GPU_MODEL NODE_SPEC

.PHONY: help chaos bench deps binaries tools build typecheck crds-check check-contracts check-tools test test-unit test-integration testbed-up testbed-down dev image image-test synth clean

help:
	@echo "make dev           bring up a local cluster with fake GPU nodes, a chain, the operator and an example job"
	@echo "make test          type checks, CRD/type drift check and every test suite (unit + integration)"
	@echo "make build         compile the operator to dist/"
	@echo "make image         build the operator image with buildah (no Docker engine) to dist/atelier-VERSION.oci.tar"
	@echo "make image-test    run the image as the chart does (uid 65532, read-only root): help, then run against a test-bed"
	@echo "make synth         cdk8s synth: the install and the example jobs as YAML in dist/cdk8s/"
	@echo "make check-tools   the field's tools on the contract: forge fuzz/invariant tests, solhint (promtool and"
	@echo "                   kubeconform run in the metrics and install suites of make test)"
	@echo "make chaos         the chaos suite, long form: >= 200 faults over a mixed settled load, checked from the world"
	@echo "                   (CHAOS_FAULTS, CHAOS_SEED to replay); its short form (20 faults) runs in make test"
	@echo "make bench         benchmark Atelier against direct pod creation and the Job controller (NODES JOBS SHARDS)"
	@echo "make testbed-up    start test-bed NAME=$(NAME) (NODES, GPUS, GPU_MODEL or NODE_SPEC), a chain and the data plane (IPFS, S3)"
	@echo "make testbed-down  stop test-bed NAME=$(NAME), its chain and its data plane"

deps: node_modules/.atelier-deps
node_modules/.atelier-deps: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@node --version | grep -q '^v24\.' || { echo "expected Node 24 from node_modules/.bin, got $$(node --version)"; exit 1; }
	@touch $@

binaries:
	@bash test/testbed/build-binaries.sh

# Test tools from Debian's packages: Prometheus scrapes the operator in the metrics suite, and its
# promtool checks the /metrics exposition and the dashboard's queries there.
tools:
	@command -v prometheus >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null; \
	  else echo "the metrics suite needs Prometheus: sudo apt-get install prometheus"; exit 1; fi; }

build: deps
	npm run --silent build

typecheck: deps
	tsc -p tsconfig.json --noEmit

# The CRDs are the source of truth: the TypeScript types and the chart's copies must match them.
crds-check: deps
	node operator/src/api/generate.ts --check
	node scripts/gen-gpus.ts --check
	bash charts/atelier/sync-crds.sh --check

# The escrow contract checked by the field's tools: solhint (contracts, then the forge tests), and
# Foundry's forge running the fuzz and invariant tests in operator/src/settlement/contracts/test/
# through its solc-js shim (forge downloads nothing; its output stays under .testbed/forge).
# solhint's rules (JSON, so without comments): solhint:recommended, without NatSpec tags, strict
# inequalities or indexed event values (indexing would change the event ABI the operator decodes);
# the tests' file also allows what forge tests do (require strings, testFuzz_ names, empty catches).
SETTLEMENT_CONTRACTS := operator/src/settlement/contracts
check-contracts: deps
	solhint -c $(SETTLEMENT_CONTRACTS)/.solhint.json --max-warnings 0 --disc '$(SETTLEMENT_CONTRACTS)/*.sol'
	solhint -c $(SETTLEMENT_CONTRACTS)/test/.solhint.json --max-warnings 0 --disc '$(SETTLEMENT_CONTRACTS)/test/*.sol'
	cd $(SETTLEMENT_CONTRACTS) && FOUNDRY_OUT=$(CURDIR)/.testbed/forge/out FOUNDRY_CACHE_PATH=$(CURDIR)/.testbed/forge/cache \
	  forge test --summary

# Every tool check installs what it needs: promtool (Debian's prometheus, `tools`), kubeconform
# (`binaries`), forge and solhint (npm). promtool and kubeconform run inside the jest suites
# test/metrics/prometheus.test.ts and test/install/kubeconform.test.ts; viem in test/fakes.
check-tools: tools binaries check-contracts

test: deps binaries tools typecheck crds-check build check-contracts
	@mkdir -p .testbed
	NODE_OPTIONS=--experimental-vm-modules jest --ci $(JEST_FLAGS)

test-unit: deps
	NODE_OPTIONS=--experimental-vm-modules jest --ci --selectProjects unit

test-integration: deps binaries tools build
	NODE_OPTIONS=--experimental-vm-modules jest --ci --selectProjects integration

testbed-up: deps binaries
	@bash test/testbed/cluster.sh up $(NAME)
	@bash test/testbed/chain.sh up $(NAME)
	@bash test/testbed/data.sh up $(NAME)
	@echo "export KUBECONFIG=$(CURDIR)/.testbed/$(NAME)/kubeconfig"

testbed-down:
	@bash test/testbed/cluster.sh down $(NAME)
	@bash test/testbed/cluster.sh down $(NAME)-peer
	@bash test/testbed/chain.sh down $(NAME)
	@bash test/testbed/data.sh down $(NAME)

# The chaos suite's long form (test/chaos/): the same jest suite as in make test, with 200 faults.
CHAOS_FAULTS ?= 200
chaos: deps binaries tools build
	@mkdir -p .testbed
	CHAOS_FAULTS=$(CHAOS_FAULTS) NODE_OPTIONS=--experimental-vm-modules jest --ci --selectProjects integration --runTestsByPath test/chaos/chaos.test.ts $(JEST_FLAGS)

# Benchmarks at scale (test/bench/README.md): NODES, JOBS, SHARDS, DURATION, BENCH=memory, …
bench: deps binaries build
	NODES=$(if $(filter command line environment,$(origin NODES)),$(NODES),250) node test/bench/run.mjs

dev: deps binaries
	@bash test/testbed/dev.sh $(NAME)

# The operator image, built without a Docker engine (scripts/build-image.sh): prints the archive's
# digest and size. Not part of `make test`: see README.md, "The operator image".
image: deps
	@bash scripts/build-image.sh

image-test: image
	@bash scripts/test-image.sh

# cdk8s as its users run it: cdk8s.yaml names the app (cdk8s/app.ts) and the output directory.
synth: deps
	cdk8s synth

clean:
	rm -rf dist .testbed
