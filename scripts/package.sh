#!/usr/bin/env bash
# Build the Debian package from the tree: build-deb/svcdns_<version>_<arch>.deb, installed with
#   apt install ./build-deb/svcdns_*.deb
# The programs in /usr/bin, the systemd units in /lib/systemd/system, the default configs in
# /etc/svcdns and /etc/svcfwd (conffiles), man pages svcctl(1), svcdns(8), svcfwd(8), the
# Grafana dashboards in /usr/share/svcdns/grafana, the README in /usr/share/doc/svcdns.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
command -v dpkg-shlibdeps >/dev/null || {
	echo "package.sh: dpkg-shlibdeps is needed (apt-get install dpkg-dev)" >&2
	exit 1
}
cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	-DSVC_SYSTEMD_UNIT_DIR=/lib/systemd/system -DSVC_BUILD_TESTS=OFF >/dev/null
cmake --build build-deb -j"$(nproc)"
(cd build-deb && cpack -G DEB >/dev/null)
ls build-deb/svcdns_*.deb
