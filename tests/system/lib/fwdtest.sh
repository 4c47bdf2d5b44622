# Sourced first by the svcfwd tests that build their own namespaces (svcfwd_lb.sh,
# svcfwd_limits.sh): skips without root or `ip netns`, finds svcfwd, makes $WORK, sources
# fwdnet.sh and removes everything on exit. The caller sets FWD_TEST (its file name) and FWD_TAG.
set -u -o pipefail

SVC_SOURCE_DIR=${SVC_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
SVC_BUILD_DIR=${SVC_BUILD_DIR:-$SVC_SOURCE_DIR/build}
SVCFWD=$SVC_BUILD_DIR/svcfwd
FWD_LIB=$SVC_SOURCE_DIR/tests/system/lib

if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
	echo "SKIP: $FWD_TEST needs root and 'ip netns'"
	exit 77
fi
if [ ! -x "$SVCFWD" ]; then
	echo "$FWD_TEST: $SVCFWD not found; build first" >&2
	exit 1
fi

export LC_ALL=C
PY=$(python3 -c 'import sys; print(sys.executable)')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/${FWD_TEST%.sh}.XXXXXX")
# shellcheck source=fwdnet.sh
. "$FWD_LIB/fwdnet.sh"
cleanup() {
	fwdnet_down
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
