#!/usr/bin/env bash
# Install what is missing, build, and run svcdns's tools on the example cluster in zones/.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
ZONES=${SVCDNS_ZONES:-zones}

echo "\$ svcctl --zones $ZONES check"
./build/svcctl --zones "$ZONES" check
echo
echo "\$ svcctl --zones $ZONES get services -A"
./build/svcctl --zones "$ZONES" get services -A
echo
echo "\$ svcctl --zones $ZONES get endpoints -A"
./build/svcctl --zones "$ZONES" get endpoints -A
