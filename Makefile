# lienthong — the two commands of the README, and a few more for developers.
#   make run     install what is missing, build, start lienthong with the demo province
#   make check   install what is missing, build, run every test (also under ASan+UBSan, and fuzz)
JOBS      ?= $(shell nproc)
LISTEN    ?= 127.0.0.1:8080
DEMO_DATA ?= data/demo
FUZZ_SECONDS ?= 60

.PHONY: all setup build build-asan build-fuzz run check test test-asan fuzz bench format clean

all: build

setup:
	@sh scripts/setup.sh

build: setup
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j$(JOBS)

build-asan: setup
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLT_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

build-fuzz: setup
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLT_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS)

run: build
	@./build/lienthong demo --data $(DEMO_DATA)
	@exec ./build/lienthong serve --data $(DEMO_DATA) --listen $(LISTEN)

test: build
	@cd build && ctest --output-on-failure -j$(JOBS)

test-asan: build-asan
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

fuzz: build-fuzz
	@sh scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

check: test test-asan fuzz
	@sh scripts/summary.sh build build-asan

bench: build
	@sh bench/run.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz
