# syntax=docker/dockerfile:1
# The `mo2fa` binary in a small image that runs as non-root (deploy/compose.yaml uses it):
#   docker build -t mo2fa .
#   docker run --rm -p 8080:8080 -p 9100:9100 -e MO2FA_WEBHOOK_SECRET=... mo2fa
# Stage 1 builds with the Rust toolchain the project is tested with; stage 2 is distroless
# (glibc and libgcc only, which is all the binary links: `ldd target/release/mo2fa`), with
# no shell and no package manager. README.md ("Container") says what was built here and what
# was only linted.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Default features: `serve` and the simulator; the goose load tool (`--features load`) is not
# needed in a server image. Cache mounts keep the registry and target between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin mo2fa \
    && install -D -m 0755 target/release/mo2fa /out/mo2fa

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/mo2fa /usr/local/bin/mo2fa
# distroless's `nonroot` user, by number so that runAsNonRoot can check it.
USER 65532:65532
# Smoke test at build time: the binary starts and prints its help in the final image.
RUN ["/usr/local/bin/mo2fa", "--help"]
# 8080: the API and webhook; 9100: /metrics, /healthz and /readyz (--metrics-addr).
EXPOSE 8080 9100
ENTRYPOINT ["/usr/local/bin/mo2fa"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--metrics-addr", "0.0.0.0:9100"]
