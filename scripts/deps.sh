#!/usr/bin/env bash
# Install the Debian packages svcdns needs to build and test, if any are missing.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config dpkg-dev
	libevent-dev libldns-dev libc-ares-dev libyaml-dev libcmocka-dev libjansson-dev
	libssl-dev openssl libbpf-dev bpftool clang-14
	etcd-server etcd-client
	bind9-dnsutils knot knot-dnsutils ldnsutils nsd curl python3 iproute2 man-db
	iperf3 prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
