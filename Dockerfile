# teahouse container image.
# Build stage: the official Bun image installs dependencies and compiles one executable.
FROM oven/bun:1.4 AS build
WORKDIR /app
COPY package.json package-lock.json bunfig.toml tsconfig.json ./
RUN bun install --frozen-lockfile --ignore-scripts
COPY src ./src
COPY public ./public
RUN bun build --compile --production --outfile /app/teahouse src/index.ts

# Run stage: a small base, a non-root user, data in a volume.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data teahouse && mkdir -p /data && chown teahouse /data
WORKDIR /app
COPY --from=build /app/teahouse /app/teahouse
COPY --from=build /app/public /app/public
USER teahouse
ENV DATA_DIR=/data PORT=3000 HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 3000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/teahouse"]
