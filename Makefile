# modelwatch: `make run` sets up, builds and starts modelwatchd on its embedded default config;
# `make test` sets up, builds and runs every test. Both work as root on a fresh Debian 12.

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
ARGS ?=

# Debian 12 packages the build, the tests and the benchmarks need.
PACKAGES := build-essential cmake pkg-config git clang-format \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
  prometheus-cpp-dev libcivetweb-dev libspdlog-dev libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev \
  libboost-math-dev prometheus prometheus-alertmanager \
  python3 python3-grpcio python3-grpc-tools python3-protobuf python3-sklearn python3-scipy \
  python3-yaml curl

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build run test bench format format-check clean

all: build

# Installs only what is missing, so a machine that has everything makes no network call.
deps:
	@missing=$$(for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# Debian's prometheus and alertmanager packages start services; the tests start their own.
	@-$(SUDO) systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/daemon/modelwatchd $(ARGS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) $(ARGS)

bench: build
	bench/run.sh $(BUILD_DIR)

format:
	find core config daemon tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

format-check:
	find core config daemon tests bench -name '*.h' -o -name '*.cc' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD_DIR)
