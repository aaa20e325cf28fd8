# The project's interface: make, make demo, make test, make format, make bench.
BUILD ?= build
PYTHON ?= /usr/bin/python3
JOBS ?= $(shell nproc)

.PHONY: all build bootstrap demo test unit integration sanitize format format-check bench clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@scripts/demo

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

integration: build
	RESERVOIR_BIN=$(abspath $(BUILD))/reservoir $(PYTHON) -m pytest -q tests/integration

test: build format-check
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	RESERVOIR_BIN=$(abspath $(BUILD))/reservoir $(PYTHON) -m pytest -q tests/integration
	RESERVOIR_BIN=$(abspath $(BUILD))/reservoir $(PYTHON) -m pytest -q tests/clients

# The integration and driver suites against an ASan/LSan/UBSan build (build-sanitize/).
sanitize: bootstrap
	scripts/sanitize

bench: build
	QUICK=$(QUICK) bench/run

format:
	find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

# Fails if any C++ file is not clang-formatted (run `make format` to fix).
format-check:
	@find src tests -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD)
