# teahouse container image: the single executable on a small base, run as a non-root user.
#
#   docker build -t teahouse .
#   docker run -d -p 3000:3000 -v teahouse-data:/data --name teahouse teahouse
#
# The base images are build arguments so that a registry mirror can stand in for them
# (scripts/podman-check.sh builds this file with local images).
ARG BUN_IMAGE=oven/bun:1.4
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# Build stage: the official Bun image installs the dependencies and compiles one executable with the
# browser assets embedded (scripts/build.ts).
FROM ${BUN_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json bunfig.toml tsconfig.json ./
RUN bun install --frozen-lockfile --production --ignore-scripts
COPY src ./src
COPY public ./public
COPY scripts ./scripts
RUN bun scripts/build.ts /out/teahouse && mkdir -p /out/data

# Run stage: glibc and nothing else (no shell, no package manager); the binary is the whole app.
FROM ${RUNTIME_IMAGE}
COPY --from=build /out/teahouse /usr/local/bin/teahouse
# The database and the generated cookie secret live in /data: owned by the unprivileged user.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV DATA_DIR=/data HOST=0.0.0.0 PORT=3000
VOLUME ["/data"]
EXPOSE 3000
# No curl in the image: the binary probes its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 CMD ["/usr/local/bin/teahouse", "--healthcheck"]
# teahouse closes its sockets with 1001 and exits 0 within a few seconds of SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/teahouse"]
