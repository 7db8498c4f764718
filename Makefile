# lienthong — the two commands of the README, and a few more for developers.
#   make run     install what is missing, build, start lienthong with the demo province
#   make check   install what is missing, build, run every test (also under ASan+UBSan, and fuzz)
#   make bench-gateway  the data-sharing gateway against nginx (bench/gateway.sh)
#   make bench-relay    the relay between platforms, one and two hops (bench/relay.sh)
JOBS      ?= $(shell nproc)
LISTEN    ?= 127.0.0.1:8080
UPSTREAM_LISTEN ?= 127.0.0.1:8081
DEMO_DATA ?= data/demo
FUZZ_SECONDS ?= 60

.PHONY: all setup build build-asan build-fuzz run check test test-asan fuzz bench bench-gateway bench-relay format clean

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

# The server and the demo province's provider systems (the gateway's upstream) both run as
# jobs of one shell that waits for the server; the trap stops both however the recipe ends
# (Ctrl-C, SIGTERM to make or the shell, or serve failing to start). Background jobs of a
# non-interactive shell ignore SIGINT, hence SIGTERM.
run: build
	@./build/lienthong demo --data $(DEMO_DATA) --upstream http://$(UPSTREAM_LISTEN)
	@./build/lienthong demo-upstream --listen $(UPSTREAM_LISTEN) & up=$$!; \
	./build/lienthong serve --data $(DEMO_DATA) --listen $(LISTEN) & sv=$$!; \
	trap 'kill -TERM $$sv $$up 2>/dev/null; wait $$sv $$up 2>/dev/null' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	wait $$sv

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

bench-gateway: build
	@sh bench/gateway.sh

bench-relay: build
	@sh bench/relay.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz
