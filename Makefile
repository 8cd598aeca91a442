# allockit: the two commands of the README, and a few more.
#   make test    build everything and run every test (ctest)
#   make bench   build and run the benchmark comparison, print the table
# Variables: BUILD (build directory), CC, WERROR=ON|OFF, CMAKE_ARGS, JOBS.

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WERROR ?= OFF
CMAKE_ARGS ?=
CMAKE_CC := $(if $(filter default,$(origin CC)),,-DCMAKE_C_COMPILER=$(CC))

.PHONY: all configure build test test-targets bench docs install clean format

all: build

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DAK_WERROR=$(WERROR) $(CMAKE_CC) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test:
	@./scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@JOBS=$(JOBS) WERROR=$(WERROR) ./scripts/test-targets.sh $(BUILD)/targets

# Bare metal (qemu-system riscv64/aarch64) and foreign CPUs (qemu-user
# s390x, armhf, i686, aarch64); targets whose tools are missing are skipped.
test-targets:
	@./scripts/deps.sh targets
	@JOBS=$(JOBS) WERROR=$(WERROR) ./scripts/test-targets.sh $(BUILD)/targets

bench:
	@./scripts/deps.sh bench
	@$(MAKE) --no-print-directory build
	@if [ -x $(BUILD)/bench/akbench ]; then $(BUILD)/bench/akbench; \
	 else echo "make bench: the benchmark is not built yet (bench/ has no akbench target)"; fi

docs: configure
	@if cmake --build $(BUILD) --target docs 2>/dev/null; then echo "HTML in $(BUILD)/docs/html"; \
	 else echo "make docs: doxygen is not installed (apt-get install doxygen)"; fi

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX),)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
