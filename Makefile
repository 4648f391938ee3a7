# tpmiot — the two commands a new user needs, and a few for developers.
#   make demo    install packages, build, run the demo (software TPM, slot 0, a token)
#   make check   install packages, build, run every test (also under ASan+UBSan), fuzz smoke
# Developers: make build, bench, check-fast, check-sanitize, fuzz, lint, format

MAKEFLAGS += --no-print-directory
BUILD ?= build
BUILD_SAN ?= build-sanitize
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo check check-fast check-sanitize fuzz fuzz-smoke bench lint format clean

all: build

deps:
	@./scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@./scripts/demo.sh $(BUILD)

check-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j 2

check-sanitize: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DTPMIOT_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)
	@cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2

fuzz-smoke: deps
	@./fuzz/run-smoke 10

fuzz: deps
	@./fuzz/run-smoke $${FUZZ_SECONDS:-300}

check: check-fast check-sanitize fuzz-smoke

bench: build
	@./bench/run $(BUILD)

lint:
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  -D'cJSON_ArrayForEach(e,a)=for(e=a;e;e=e->next)' -I hub/registry -I hub/auth -I client \
	  --inline-suppr -I include -I lib lib common cli client hub portal
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
