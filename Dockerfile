# One image with all of crawlq's binaries: producer, worker, aggregator, fixture-site.
# Dependencies are built in a layer of their own (cargo-chef), rebuilt only
# when Cargo.toml or Cargo.lock change; everything builds --locked.
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bins \
 && mkdir /out \
 && cp target/release/producer target/release/worker target/release/aggregator target/release/fixture-site /out/

FROM debian:bookworm-slim
# curl: the services' healthchecks ask their own /readyz.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
USER nobody
ENTRYPOINT []
