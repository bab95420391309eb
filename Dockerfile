# syntax=docker/dockerfile:1
# cookim image: build with `docker build -t cookim .` (BuildKit, the default builder since
# Docker 23, is needed for the cache mounts). See README "Deployment".

# ---- builder -------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target caches outlive the build, so a rebuild after a source change only
# recompiles what changed. A cache mount is not part of the image: the binary is copied out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p cookim \
 && cp /src/target/release/cookim /usr/local/bin/cookim

# ---- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: TLS to a hosted MongoDB (mongodb+srv, tls=true) can use the system roots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it; /data is created and owned
# here, before VOLUME, so a fresh named volume starts with that owner.
RUN groupadd --system --gid 10001 cookim \
 && useradd --system --uid 10001 --gid cookim --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin cookim \
 && mkdir /data && chown cookim:cookim /data
COPY --from=builder /usr/local/bin/cookim /usr/local/bin/cookim

# Data dir: embedded store, uploaded files, generated token secret (with MONGO_URI the data
# lives in MongoDB). COOKIM_NAT=1: bind all interfaces, advertise HOST_NAME to the other nodes.
ENV COOKIM_DATA_DIR=/data COOKIM_NAT=1
VOLUME /data
WORKDIR /data
USER 10001:10001

# 8080: HTTP + websockets (WEB_PORT); 2551: cluster mesh (AKKA_PORT), TCP and UDP.
EXPOSE 8080/tcp 2551/tcp 2551/udp
# No HEALTHCHECK: the slim image has no curl. Orchestrators probe GET /healthz (liveness) and
# GET /readyz (readiness) on the web port instead (deploy/kubernetes.yaml does).
ENTRYPOINT ["cookim"]
