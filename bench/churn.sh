#!/usr/bin/env bash
# churn.sh -- how memory behaves over a stream of changes, without the daemons' threads and
# sockets: bench/churn.c holds what svcdns's builder holds (store, snapshot, zone) for a
# generated cluster, applies rounds of random pod flips (each a whole-file rewrite and rename,
# as an editor saves), then puts every file back at once, and prints RSS and the bytes malloc
# has in use after each 20 rounds.
#
# usage: bench/churn.sh [--services N] [--rounds N] [--flips N]
#   --services 10000 (5 pods each), --rounds 120, --flips 30 (pods per round)
# environment: BUILD_DIR=build-bench (Release, built when needed), CC=cc
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=10000 ROUNDS=120 FLIPS=30
while [ $# -gt 0 ]; do
	case $1 in
	--services) SERVICES=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--flips) FLIPS=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "churn: unknown argument $1 (--help)" >&2; exit 2 ;;
	esac
done
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
if [ ! -f "$BUILD_DIR/libcluster.a" ]; then
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"${CC:-cc}" -O2 -I"$ROOT/include" -I"$ROOT/cluster" "$ROOT/bench/churn.c" -o "$WORK/churn" \
	-L"$BUILD_DIR" -ldnscore -lcluster -lsvcutil -lyaml -lm -lpthread
python3 "$ROOT/bench/gen_cluster.py" "$WORK/orig" --services "$SERVICES" --pods 5 >/dev/null
cp -r "$WORK/orig" "$WORK/cl"
cat >"$WORK/flip.py" <<'PY'
import os, random, re, sys
d, n = sys.argv[1], int(sys.argv[2])
files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".yaml"))
for _ in range(n):
    f = random.choice(files)
    s = open(f).read()
    i = random.choice([m.start() for m in re.finditer(r'status: "(True|False)"', s)])
    s = s[:i] + ('status: "False"' + s[i + 14:] if s[i + 9:i + 13] == "True" else 'status: "True"' + s[i + 15:])
    with open(f + ".tmp", "w") as fh:
        fh.write(s)
    os.rename(f + ".tmp", f)
PY
echo "churn: $SERVICES services x 5 pods, $ROUNDS rounds of $FLIPS pod flips, then every file put back"
"$WORK/churn" "$WORK/cl" "$ROUNDS" "python3 $WORK/flip.py $WORK/cl $FLIPS" \
	"for f in $WORK/orig/*.yaml; do cp \$f $WORK/cl/.t && mv $WORK/cl/.t $WORK/cl/\$(basename \$f); done"
