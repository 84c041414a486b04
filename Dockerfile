# modelwatchd and modelwatchctl on Debian 12, built with the same CMake commands as `make`.
#
#   docker build -t modelwatch .
#   docker run --rm -p 50051:50051 -p 9464:9464 -v $PWD/modelwatch.yaml:/etc/modelwatch/modelwatch.yaml:ro \
#     modelwatch --config=/etc/modelwatch/modelwatch.yaml --grpc_listen=0.0.0.0:50051
#
# The build stage installs the Makefile's build packages (the tests' Prometheus, Alertmanager
# and Python packages are left out); the runtime stage holds only the shared libraries the two
# binaries link and curl for the health check.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config git ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      prometheus-cpp-dev libspdlog-dev libyaml-cpp-dev libgtest-dev libgmock-dev \
      libbenchmark-dev libboost-math-dev libcivetweb-dev \
      python3 python3-grpc-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# As the Makefile: cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo; cmake --build build.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j "$(nproc)" --target modelwatchd modelwatchctl \
 && strip --strip-debug build/daemon/modelwatchd build/daemon/modelwatchctl

FROM debian:12 AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libprometheus-cpp-core1.0 \
      libspdlog1.10 libfmt9 libyaml-cpp0.7 libcivetweb1 libre2-9 libc-ares2 libssl3 zlib1g \
      curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 modelwatch \
 && useradd --system --uid 10001 --gid modelwatch --no-create-home --shell /usr/sbin/nologin modelwatch
COPY --from=build /src/build/daemon/modelwatchd /src/build/daemon/modelwatchctl /usr/local/bin/
USER 10001:10001
# 50051: gRPC ingest and grpc.health.v1 (bound to 127.0.0.1 unless --grpc_listen says otherwise);
# 9464: /metrics, /healthz, /readyz.
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/modelwatchd"]
CMD ["--http_listen=0.0.0.0:9464"]
