# Front door: `make`, `make run`, `make test` (DESIGN §11). CMake does the real work.
PRESET ?= dev
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080

.PHONY: all deps test-deps build run test test-asan fuzz-replay format format-check bench clean \
        config-doc

all: build

deps:
	@tools/install-deps.sh build

test-deps:
	@tools/install-deps.sh test

$(BUILD)/CMakeCache.txt:
	cmake --preset $(PRESET) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	@mkdir -p build/bin && for f in $(BUILD)/bin/*; do ln -sf "$$(pwd)/$$f" build/bin/; done

run: build
	@mkdir -p var
	$(BUILD)/bin/otfd --listen $(LISTEN) --data ./var --models ./models

test: test-deps build
	ctest --preset $(PRESET) -j $(JOBS)

test-asan: test-deps
	$(MAKE) PRESET=asan build
	ctest --preset asan -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

config-doc: build
	$(BUILD)/bin/otfd --config-doc > docs/config.md

clean:
	rm -rf build
