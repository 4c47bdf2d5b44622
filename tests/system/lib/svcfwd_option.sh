#!/usr/bin/env bash
# svcfwd_option.sh OPTION TEST.sh: run a svcfwd system test with svcfwd given OPTION as well:
# --no-sklookup (one socket per service address and port, as on a node where sk_lookup cannot
# load) or --no-fast-path (the relay takes every service, as where the tc program cannot load).
# The test sees a build directory whose svcfwd adds the option; everything else is the real
# build. Registered by tests/CMakeLists.txt as system/<test>_no_sklookup and _no_fast_path.
set -u
: "${SVC_BUILD_DIR:?}"
opt=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/svcfwd_option.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
for f in "$SVC_BUILD_DIR"/*; do
	ln -s "$f" "$dir/"
done
rm -f "$dir/svcfwd"
# exec all the way: the test's $! is svcfwd itself (it signals and prlimits it).
printf '#!/bin/sh\nexec %q %q "$@"\n' "$SVC_BUILD_DIR/svcfwd" "$opt" >"$dir/svcfwd"
chmod +x "$dir/svcfwd"
SVC_BUILD_DIR=$dir bash "$2"
