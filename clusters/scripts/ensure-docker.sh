#!/usr/bin/env bash
# ensure-docker.sh: make a Docker engine usable for kind on this machine.
#
# Idempotent. Installs Debian's docker.io when Docker is missing, writes
# /etc/docker/daemon.json (userland proxy off; a capability-filtering runc
# wrapper as the default runtime, only when the host's capability bounding
# set lacks capabilities), starts dockerd when it is not running and waits
# for it. With --image-tools it also installs what the offline node image
# build needs (debootstrap, gcc for the pause binary).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
wrapper=/usr/local/libexec/chaosgate/runc-capfilter
runtime_name=chaosgate-runc
daemon_json=/etc/docker/daemon.json
log=/var/log/chaosgate-dockerd.log

image_tools=false
for a in "$@"; do
  case "$a" in
    --image-tools) image_tools=true ;;
    *) echo "ensure-docker: unknown argument: $a" >&2; exit 2 ;;
  esac
done

say() { echo "ensure-docker: $*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }

docker_ok() { docker info >/dev/null 2>&1; }

# bounding_set_complete is true when CapBnd holds all 41 capabilities
# (CAP_CHOWN..CAP_CHECKPOINT_RESTORE).
bounding_set_complete() {
  local hex
  hex="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  local want=$(( (1 << 41) - 1 ))
  [ $(( 0x${hex} & want )) -eq ${want} ]
}

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/chaosgate-apt.log 2>&1; then
    apt-get update >>/tmp/chaosgate-apt.log 2>&1 || true
    apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/chaosgate-apt.log 2>&1 || {
      say "apt-get install ${missing[*]} failed; see /tmp/chaosgate-apt.log"; tail -20 /tmp/chaosgate-apt.log >&2; exit 1; }
  fi
}

if ! is_root; then
  if docker_ok; then
    exit 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    say "Docker is not installed and this user is not root."
    say "Install a Docker engine (Debian: sudo apt-get install docker.io), start it,"
    say "and give this user access to it (sudo usermod -aG docker \$USER), then retry."
  else
    say "Docker is installed but not reachable by this user. Start it (sudo systemctl start docker)"
    say "or run as root, and make sure this user may use /var/run/docker.sock."
  fi
  exit 1
fi

pkgs=(docker.io iptables iproute2)
$image_tools && pkgs+=(debootstrap gcc libc6-dev)
if ! command -v dockerd >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1 || $image_tools; then
  apt_install "${pkgs[@]}"
fi

need_wrapper=false
bounding_set_complete || need_wrapper=true

if $need_wrapper; then
  # Rebuild the wrapper when its source changed; go build is a cache hit otherwise.
  mkdir -p "$(dirname "$wrapper")"
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "${wrapper}.new" ./cmd/runc-capfilter)
  if ! cmp -s "${wrapper}.new" "$wrapper" 2>/dev/null; then
    mv "${wrapper}.new" "$wrapper"
  else
    rm -f "${wrapper}.new"
  fi
fi

# desired daemon.json, written by us. An existing file not written by us is
# left alone unless it already has what kind needs here.
desired="$(mktemp)"
trap 'rm -f "$desired"' EXIT
{
  echo '{'
  echo '  "userland-proxy": false,'
  if $need_wrapper; then
    echo "  \"runtimes\": {\"${runtime_name}\": {\"path\": \"${wrapper}\"}},"
    echo "  \"default-runtime\": \"${runtime_name}\","
  fi
  echo '  "labels": ["managed-by=chaosgate"]'
  echo '}'
} >"$desired"

restart=false
mkdir -p /etc/docker
if [ ! -s "$daemon_json" ]; then
  cp "$desired" "$daemon_json"; restart=true
elif grep -q 'managed-by=chaosgate' "$daemon_json"; then
  if ! cmp -s "$desired" "$daemon_json"; then
    cp "$desired" "$daemon_json"; restart=true
  fi
else
  if ! grep -q '"userland-proxy": *false' "$daemon_json" || { $need_wrapper && ! grep -q "$runtime_name" "$daemon_json"; }; then
    say "$daemon_json exists and was not written by chaosgate; add to it:"
    cat "$desired" >&2
    exit 1
  fi
fi

start_dockerd() {
  say "starting dockerd (log: $log)"
  nohup dockerd >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker_ok && return 0
    sleep 1
  done
  say "dockerd did not answer within 60s; last lines of $log:"
  tail -30 "$log" >&2
  exit 1
}

if docker_ok; then
  if $restart; then
    say "daemon.json changed; restarting dockerd"
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
      systemctl restart docker
    else
      pkill -TERM -x dockerd || true
      for _ in $(seq 1 30); do pgrep -x dockerd >/dev/null || break; sleep 1; done
      start_dockerd
    fi
  fi
else
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker || start_dockerd
  else
    start_dockerd
  fi
fi

if $need_wrapper && ! docker info --format '{{.DefaultRuntime}}' | grep -qx "$runtime_name"; then
  say "dockerd runs without the ${runtime_name} runtime; privileged containers will fail here"
  exit 1
fi
say "docker ready ($(docker version --format '{{.Server.Version}}'), default runtime $(docker info --format '{{.DefaultRuntime}}'))"
