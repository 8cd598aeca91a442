# allockit: the two commands of the README, and a few more.
#   make test    build everything and run every test (ctest)
#   make bench   build and run the benchmark comparison, print the table
#                (BENCH_QUICK=1, BENCH_FILTER=...: see bench/README.md)
#   make test-sanitize / coverage / fuzz FUZZ_SECONDS=60   (see each target)
# Variables: BUILD (build directory), CC, WERROR=ON|OFF, CMAKE_ARGS, JOBS.

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WERROR ?= OFF
CMAKE_ARGS ?=
CMAKE_CC := $(if $(filter default,$(origin CC)),,-DCMAKE_C_COMPILER=$(CC))

.PHONY: all configure build test test-targets bench docs install clean format test-sanitize coverage fuzz

all: build

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DAK_WERROR=$(WERROR) $(CMAKE_CC) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test:
	@./scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	@./scripts/deps.sh targets
	@AK_CMAKE_ARGS="$(CMAKE_ARGS)" WERROR=$(WERROR) ./scripts/run-tests.sh $(BUILD) $(JOBS)

# The suite under AddressSanitizer + UBSan (quick scale) in build-asan.
test-sanitize:
	@AK_CMAKE_ARGS="$(CMAKE_ARGS)" ./scripts/sanitize.sh build-asan $(JOBS)

# Line and branch coverage of src/ (gcc + gcovr) in build-cov.
coverage:
	@./scripts/deps.sh coverage
	@AK_CMAKE_ARGS="$(CMAKE_ARGS)" ./scripts/coverage.sh build-cov $(JOBS)

# libFuzzer targets (clang), FUZZ_SECONDS each, starting from fuzz/corpus.
FUZZ_SECONDS ?= 60
fuzz:
	@./scripts/deps.sh fuzz
	@AK_CMAKE_ARGS="$(CMAKE_ARGS)" ./scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

# Bare metal (qemu-system riscv64/aarch64) and foreign CPUs (qemu-user
# s390x, armhf, i686, aarch64); targets whose tools are missing are skipped.
test-targets:
	@./scripts/deps.sh targets
	@JOBS=$(JOBS) WERROR=$(WERROR) ./scripts/test-targets.sh $(BUILD)/targets

# Builds only what it runs (akbench, and libakmalloc.so for the
# multi-threaded workloads and the real programs): building everything
# would take a QUICK run's whole budget.
bench:
	@./scripts/deps.sh bench
	@$(MAKE) --no-print-directory configure
	@grep -q '^AK_BUILD_BENCH:BOOL=ON' $(BUILD)/CMakeCache.txt || \
	   { echo "make bench: $(BUILD) is configured with -DAK_BUILD_BENCH=OFF"; exit 1; }
	@t=akbench; grep -q '^AK_BUILD_HOSTED:BOOL=ON' $(BUILD)/CMakeCache.txt && t="$$t akmalloc"; \
	   cmake --build $(BUILD) -j $(JOBS) --target $$t
	@$(BUILD)/bench/akbench; rc=$$?; ./bench/realprog.sh $(BUILD) || rc=1; exit $$rc

docs: configure
	@if cmake --build $(BUILD) --target docs 2>/dev/null; then echo "HTML in $(BUILD)/docs/html"; \
	 else echo "make docs: doxygen is not installed (apt-get install doxygen)"; fi

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX),)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
