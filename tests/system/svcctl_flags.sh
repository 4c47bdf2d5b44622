#!/usr/bin/env bash
# svcctl's flags, read from its option table: kubectl's forms (-n NS, -nNS, -n=NS, --namespace NS,
# --namespace=NS), flags before, between and after the arguments, and the errors for a bad flag.
. "$(dirname "$0")/lib/common.sh"

need_programs svcctl

OUT=$WORK/stdout
ERR=$WORK/stderr
RC=0
run() {
	if "$SVCCTL" "$@" >"$OUT" 2>"$ERR"; then RC=0; else RC=$?; fi
}

Z=$WORK/zones
cp -R "$ZONES_SRC" "$Z"

# Every spelling of "the shop namespace, names only" prints the same.
run --zones "$Z" get services -n shop -o name
expect_eq "-n NS: status" "$RC" 0
WANT=$(cat "$OUT")
expect_true "-n NS: lists shop's services" grep -qx "service/backend" "$OUT"
for form in "-n shop -o name" "-nshop -oname" "-n=shop -o=name" "--namespace shop --output name" \
	"--namespace=shop --output=name"; do
	# shellcheck disable=SC2086 # the form is split into its words on purpose
	run --zones "$Z" get services $form
	expect_eq "'$form': status" "$RC" 0
	expect_eq "'$form': output" "$(cat "$OUT")" "$WANT"
done
# Flags anywhere: before the command, between it and its arguments, after them.
run -n shop --zones="$Z" -o name get services
expect_eq "flags first" "$(cat "$OUT")" "$WANT"
run get -o name --zones "$Z" services -n shop
expect_eq "flags between" "$(cat "$OUT")" "$WANT"
run get services backend --zones "$Z" -n shop -o name
expect_eq "flags last" "$(cat "$OUT")" "service/backend"

run --zones "$Z" get services -A -o name
expect_eq "-A: status" "$RC" 0
expect_true "-A: kube-system too" grep -qx "service/kube-dns" "$OUT"
run --zones "$Z" get services --all-namespaces -o name
expect_true "--all-namespaces: kube-system too" grep -qx "service/kube-dns" "$OUT"

# -f: from a file and from standard input.
cat >"$WORK/web.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: frontend
  ports:
  - port: 80
EOF
run --zones "$Z" create --filename="$WORK/web.yaml"
expect_eq "--filename=: status" "$RC" 0
expect_eq "--filename=: output" "$(cat "$OUT")" "service/web created"
sed 's/name: web$/name: web2/' "$WORK/web.yaml" >"$WORK/web2.yaml"
if "$SVCCTL" apply --zones "$Z" -f - <"$WORK/web2.yaml" >"$OUT" 2>"$ERR"; then RC=0; else RC=$?; fi
expect_eq "-f -: status" "$RC" 0
expect_eq "-f -: output" "$(cat "$OUT")" "service/web2 created"

# --help: the usage on standard output, every flag in it, exit 0.
run --help
expect_eq "--help: status" "$RC" 0
for flag in "--zones DIR" "-n, --namespace NS" "-A, --all-namespaces" "-o, --output FORMAT" \
	"-f, --filename FILE" "--service-cidr CIDRS" "--lb-pool CIDRS" "-h, --help"; do
	expect_true "--help lists $flag" grep -qF -- "$flag" "$OUT"
done
expect_true "--help lists the commands" grep -qF "delete KIND NAME... [-n NS]" "$OUT"
run get -h
expect_eq "-h after a command" "$RC" 0
expect_true "-h prints the usage" grep -q "^usage: svcctl" "$OUT"

# Errors: as before, on standard error, exit 1.
run --zones "$Z" get services --bogus
expect_eq "unknown flag: status" "$RC" 1
expect_true "unknown flag: says which" grep -qxF "error: unknown flag: --bogus" "$ERR"
run --zones "$Z" get services -n
expect_eq "-n without a value: status" "$RC" 1
expect_true "-n without a value: says so" grep -qxF "error: flag needs an argument: -n" "$ERR"
run --zones "$Z" get services -o xml
expect_eq "-o xml: status" "$RC" 1
expect_true "-o xml: kubectl's message" grep -qxF \
	'error: unable to match a printer suitable for the output format "xml"; allowed formats are: custom-columns,json,jsonpath,name,wide,yaml' \
	"$ERR"
run --zones "$Z" --service-cidr 10.0.0.0/30 get services
expect_eq "bad --service-cidr: status" "$RC" 1
expect_true "bad --service-cidr: says why" grep -qF \
	"error: --service-cidr 10.0.0.0/30: expected one or two CIDRs (one per family) with 3 to 24 host bits" \
	"$ERR"
run --zones "$Z"
expect_eq "no command: status" "$RC" 1
expect_true "no command: the usage on stderr" grep -q "^usage: svcctl" "$ERR"
run --zones "$Z" frobnicate
expect_eq "unknown command: status" "$RC" 1
expect_true "unknown command: says which" grep -qxF 'error: unknown command "frobnicate"' "$ERR"

summary
