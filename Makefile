# allockit: the two commands of the README, and a few more.
#   make test    build everything and run every test (ctest)
#   make bench   build and run the benchmark comparison, print the table
#                (BENCH_QUICK=1, BENCH_FILTER=...: see bench/README.md)
# Variables: BUILD (build directory), CC, WERROR=ON|OFF, CMAKE_ARGS, JOBS.

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WERROR ?= OFF
CMAKE_ARGS ?=
CMAKE_CC := $(if $(filter default,$(origin CC)),,-DCMAKE_C_COMPILER=$(CC))

.PHONY: all configure build test bench docs install clean format

all: build

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DAK_WERROR=$(WERROR) $(CMAKE_CC) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test:
	@./scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench:
	@./scripts/deps.sh bench
	@$(MAKE) --no-print-directory build
	@if [ -x $(BUILD)/bench/akbench ]; then $(BUILD)/bench/akbench; \
	 else echo "make bench: $(BUILD)/bench/akbench is not built (configured with -DAK_BUILD_BENCH=OFF?)"; exit 1; fi

docs: configure
	@if cmake --build $(BUILD) --target docs 2>/dev/null; then echo "HTML in $(BUILD)/docs/html"; \
	 else echo "make docs: doxygen is not installed (apt-get install doxygen)"; fi

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX),)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
