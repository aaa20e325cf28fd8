# The project's interface: make, make demo, make test, make format, make bench.
BUILD ?= build
PYTHON ?= /usr/bin/python3
JOBS ?= $(shell nproc)

.PHONY: all build bootstrap demo test unit integration format bench clean

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

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	RESERVOIR_BIN=$(abspath $(BUILD))/reservoir $(PYTHON) -m pytest -q tests/integration

format:
	find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
