#!/usr/bin/env bash
# no_sklookup.sh TEST.sh: run a svcfwd system test with svcfwd in its fallback, one socket per
# service address and port (--no-sklookup), as on a node where sk_lookup cannot load. The test
# sees a build directory whose svcfwd adds the option; everything else is the real build.
# Registered by tests/CMakeLists.txt as system/<test>_no_sklookup.
set -u
: "${SVC_BUILD_DIR:?}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/no_sklookup.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
for f in "$SVC_BUILD_DIR"/*; do
	ln -s "$f" "$dir/"
done
rm -f "$dir/svcfwd"
# exec all the way: the test's $! is svcfwd itself (it signals and prlimits it).
printf '#!/bin/sh\nexec %q --no-sklookup "$@"\n' "$SVC_BUILD_DIR/svcfwd" >"$dir/svcfwd"
chmod +x "$dir/svcfwd"
SVC_BUILD_DIR=$dir bash "$1"
