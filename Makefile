# Front door: `make`, `make run`, `make test` (DESIGN §11). CMake does the real work.
#   make            build the dev preset (Debug, warnings are errors) into build/dev
#   make run        build the release preset and serve ./models on 127.0.0.1:8080, data in ./var
#   make test       build the dev preset and run every test (unit, integration, fuzz replay)
#   make test-asan  the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
PRESET ?= dev
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
WORKERS ?= 1

.PHONY: all deps test-deps build run serve test test-asan format format-check clean config-doc \
        demo-model

all: build

deps:
	@tools/install-deps.sh build

test-deps:
	@tools/install-deps.sh test

build: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake --preset $(PRESET) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	@mkdir -p build/bin && for f in $(BUILD)/bin/*; do ln -sf "$$(pwd)/$$f" build/bin/; done

run:
	$(MAKE) PRESET=release serve

serve: build
	@mkdir -p var
	$(BUILD)/bin/otfd --listen $(LISTEN) --data ./var --models ./models --workers $(WORKERS)

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

# models/demo from scratch: otf-synth fields -> PyTorch training -> CIANNA export -> thresholds
# tuned on the SDC1 score (tools/train/, docs/quality.md). CPU only: 6500 steps of 16 patches
# of 64x64, 20 to 60 minutes on two cores.
demo-model: build
	tools/train/make_demo.sh $(BUILD)
