#!/usr/bin/env bash
# Builds the Dockerfile with podman and checks the image: it starts as a non-root user, serves the page, an
# asset and the chat over HTTP and WebSocket (scripts/smoke.ts), passes its HEALTHCHECK, keeps /data in a
# volume, and stops on SIGTERM with exit code 0 well before podman's 10-second kill.
#
#   sudo scripts/podman-check.sh            (needs podman, buildah, runc; debootstrap for the first run)
#
# Machines without registry access: the two base images of the Dockerfile are replaced by local ones made
# here — a Debian bookworm minbase from debootstrap (runtime; it has glibc like distroless/cc) and the same
# plus this machine's Bun (build stage). Set BUN_IMAGE / RUNTIME_IMAGE to use real images instead
# (e.g. BUN_IMAGE=oven/bun:1.4 RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot).
# Prints the image size, the start-to-healthy time and the stop time; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/teahouse:check}
NAME=teahouse-check-$$
VOLUME=teahouse-check-data-$$
WORK=${PODMAN_CHECK_DIR:-/var/tmp/teahouse-podman}
BASE_IMAGE=localhost/teahouse-base:bookworm
LOCAL_BUN_IMAGE=localhost/teahouse-bun:local
STOP_BUDGET_S=5

for tool in podman runc curl; do
  command -v "$tool" >/dev/null || { echo "podman-check: $tool is missing (apt-get install podman buildah runc)"; exit 1; }
done
mkdir -p "$WORK"

# This machine's sandbox refuses setrlimit inside containers ("runc: error setting rlimit type 6/7: operation not
# permitted"), whatever the value, and podman always asks for nofile and nproc. A wrapper drops process.rlimits from
# the OCI spec before runc sees it: containers inherit the host's limits. Harmless elsewhere. (crun is absent: runc.)
command -v jq >/dev/null || { echo "podman-check: jq is missing (apt-get install jq)"; exit 1; }
cat >"$WORK/runc-inherit-rlimits" <<'WRAP'
#!/bin/sh
# runc create --bundle DIR (DIR/config.json has .process.rlimits); runc exec --process FILE (FILE has .rlimits).
strip() { jq "del($2)" "$1" >"$1.new" && mv "$1.new" "$1"; }
prev=""
for arg in "$@"; do
  [ "$prev" = "--bundle" ] && [ -f "$arg/config.json" ] && strip "$arg/config.json" .process.rlimits
  [ "$prev" = "--process" ] && [ -f "$arg" ] && strip "$arg" .rlimits
  prev="$arg"
done
exec runc "$@"
WRAP
chmod +x "$WORK/runc-inherit-rlimits"
cat >"$WORK/containers.conf" <<CONF
[engine]
runtime = "runc-inherit-rlimits"
[engine.runtimes]
runc-inherit-rlimits = ["$WORK/runc-inherit-rlimits"]
CONF
export CONTAINERS_CONF="$WORK/containers.conf"

if [ -z "${RUNTIME_IMAGE:-}" ] || [ -z "${BUN_IMAGE:-}" ]; then
  if ! podman image exists "$BASE_IMAGE"; then
    if [ ! -x "$WORK/rootfs/bin/sh" ]; then
      command -v debootstrap >/dev/null || { echo "podman-check: debootstrap is missing"; exit 1; }
      echo "== debootstrap --variant=minbase bookworm (once)"
      debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log"
    fi
    tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["/bin/sh"]' - "$BASE_IMAGE" >/dev/null
  fi
  if ! podman image exists "$LOCAL_BUN_IMAGE"; then
    bun_bin=$(readlink -f node_modules/.bin/bun)
    mkdir -p "$WORK/bun-image"
    cp "$bun_bin" "$WORK/bun-image/bun"
    printf 'FROM %s\nCOPY bun /usr/local/bin/bun\n' "$BASE_IMAGE" >"$WORK/bun-image/Dockerfile"
    podman build -q -t "$LOCAL_BUN_IMAGE" "$WORK/bun-image" >/dev/null
  fi
  RUNTIME_IMAGE=${RUNTIME_IMAGE:-$BASE_IMAGE}
  BUN_IMAGE=${BUN_IMAGE:-$LOCAL_BUN_IMAGE}
fi

cleanup() {
  podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
  podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== build ($BUN_IMAGE → $RUNTIME_IMAGE)"
started=$(date +%s)
# --format docker keeps HEALTHCHECK (OCI images have none); the host's CA certificates let bun install reach npm.
podman build --format docker --network host -v /etc/ssl/certs:/etc/ssl/certs:ro \
  --build-arg "BUN_IMAGE=$BUN_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" -t "$IMAGE" . >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log"; echo "podman-check: build failed"; exit 1; }
echo "built in $(($(date +%s) - started)) s"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image size: $((size / 1024 / 1024)) MiB"
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = "65532:65532" ] || { echo "podman-check: image user is '$user', not 65532:65532"; exit 1; }
echo "ok  runs as $user"

port=$(bun -e 'const l = Bun.listen({hostname: "127.0.0.1", port: 0, socket: {data() {}}}); console.log(l.port); l.stop(true)' 2>/dev/null ||
  node_modules/.bin/bun -e 'const l = Bun.listen({hostname: "127.0.0.1", port: 0, socket: {data() {}}}); console.log(l.port); l.stop(true)')
echo "== run on 127.0.0.1:$port"
t0=$(date +%s%N)
# --health-interval=disable: no systemd timer here (none to talk to); the check runs it by hand below.
podman run -d --name "$NAME" --health-interval=disable --network host -e "PORT=$port" -e HOST=127.0.0.1 \
  -v "$VOLUME:/data" "$IMAGE" 2>&1 >/dev/null | grep -v systemd || true
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
echo "start to first 200: $((($(date +%s%N) - t0) / 1000000)) ms"
node_modules/.bin/bun scripts/smoke.ts "http://127.0.0.1:$port"
health=$(podman healthcheck run "$NAME" 2>&1 | grep -v systemd || true)
[ -z "$health" ] || { echo "podman-check: HEALTHCHECK failed: $health"; exit 1; }
echo "ok  HEALTHCHECK (teahouse --healthcheck) passes"

echo "== stop (SIGTERM)"
t0=$(date +%s%N)
podman stop -t 10 "$NAME" 2>&1 >/dev/null | grep -v systemd || true
stop_ms=$((($(date +%s%N) - t0) / 1000000))
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
echo "stopped in $stop_ms ms, exit code $code"
[ "$code" = 0 ] || { podman logs "$NAME" | tail -20; echo "podman-check: exit code $code, expected 0"; exit 1; }
[ "$stop_ms" -lt $((STOP_BUDGET_S * 1000)) ] || { echo "podman-check: stop took $stop_ms ms (SIGTERM ignored?)"; exit 1; }
podman logs "$NAME" | grep -q '"event":"stopped"' || { echo "podman-check: no clean stop in the logs"; exit 1; }
echo "ok  logged a clean stop"
# /data (the volume) kept the database and the generated secret: a new container on it starts healthy.
podman volume inspect --format '{{.Mountpoint}}' "$VOLUME" | xargs ls | grep -q teahouse.sqlite ||
  { echo "podman-check: no database in the /data volume"; exit 1; }
echo "ok  the /data volume holds the database"
echo "podman-check: all good"
