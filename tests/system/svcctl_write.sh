#!/usr/bin/env bash
# svcctl's writes never destroy data (issue 9, items 1 and 2): apply and delete change only their
# own document of a multi-document file and leave every other byte as it was; all edits of one
# file in one run land in one write; concurrent runs wait for each other (a lock on the zones
# directory) and lose nothing; a symbolic link planted in the zones directory is never written
# through, and a manifest or namespace directory that is a symbolic link is refused.
#
# Every check runs on its own copy of zones/ under $WORK; the repository is never touched.
. "$(dirname "$0")/lib/common.sh"

need_programs svcctl
need_tools flock stat cmp

. "$T_LIB/svcctl.sh"

# The zones directory loads without errors: every file written is valid YAML and a valid model.
expect_valid() { # MSG DIR WANT-SUMMARY
	run "$2" check
	expect_rc "$1: check" 0
	expect_out "$1: check" "$2: ok: $3"
}

# docpart FILE N: document N (from 0) of FILE as bytes, split at "---" lines (the separator
# line itself left out), so documents can be compared byte for byte before and after an edit.
docpart() {
	"$PY" - "$1" "$2" <<'PYEOF'
import sys
data = open(sys.argv[1], "rb").read()
docs, cur = [], b""
for line in data.splitlines(keepends=True):
    if line.rstrip(b"\r\n") == b"---":
        docs.append(cur)
        cur = b""
    else:
        cur += line
docs.append(cur)
n = int(sys.argv[2])
if n >= len(docs):
    sys.exit(1)
sys.stdout.buffer.write(docs[n])
PYEOF
}

ndocs() { # FILE: how many "---"-separated parts
	echo $(($(grep -c '^---$' "$1") + 1))
}

same_doc() { # MSG SAVED FILE N: document N of FILE is byte for byte SAVED
	local part=$WORK/part.$$
	if docpart "$3" "$4" >"$part" && cmp -s "$2" "$part"; then
		pass
	else
		fail "$1: document $4 of $3 changed"
		diff -u "$2" "$part" | sed 's/^/  /'
	fi
}

is_symlink() { [ -L "$1" ]; }
not_symlink() { [ -f "$1" ] && [ ! -L "$1" ]; }
no_tmp_files() { [ -z "$(find "$1" -name '.*tmp*')" ]; }

svc_yaml() { # NAME NAMESPACE PORT [LABEL]: a Service manifest
	cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $1
  namespace: $2
${4:+  labels:
    tier: $4
}spec:
  selector:
    app: frontend
  ports:
  - name: http
    port: $3
    targetPort: 8080
EOF
}

# ---- item 1: apply in a multi-document <ns>/<name>.<kind>.yaml ---------------------------------

Z=$(fresh multi)
F=$Z/default/kubernetes.service.yaml
mv "$Z/default/kubernetes.yaml" "$F"
expect_valid "multi: before" "$Z" "8 services, 8 pods, 7 endpoints, 4 namespaces"
docpart "$F" 1 >"$WORK/k-ep"
head -1 "$F" >"$WORK/k-head"

run "$Z" get svc kubernetes -o yaml
sed 's/^    component: apiserver$/    component: apiserver\n    extra: "yes"/' "$OUT" >"$WORK/k.yaml"
expect_has "multi: the input has the new label" "$WORK/k.yaml" 'extra: "yes"'
run "$Z" apply -f "$WORK/k.yaml"
expect_rc "multi: apply the Service with a label added" 0
expect_out "multi: apply the Service with a label added" "service/kubernetes configured"
expect_eq "multi: still two documents" "$(ndocs "$F")" 2
same_doc "multi: the Endpoints survive byte for byte" "$WORK/k-ep" "$F" 1
expect_eq "multi: the comment above the Service is kept" "$(head -1 "$F")" "$(cat "$WORK/k-head")"
expect_has "multi: the Service has its new label" "$F" 'extra: "yes"'
expect_valid "multi: after apply" "$Z" "8 services, 8 pods, 7 endpoints, 4 namespaces"
run "$Z" get ep kubernetes
expect_rc "multi: later commands work (get ep)" 0
expect_has "multi: the Endpoints still answer" "$OUT" "192.0.2.11:6443"
run "$Z" get svc kubernetes -o yaml
expect_has "multi: get shows the label" "$OUT" 'extra: "yes"'
expect_true "multi: nothing else written into default/" \
	[ "$(ls -A "$Z/default")" == "kubernetes.service.yaml" ]

# The same apply again changes nothing, not even the inode.
INODE=$(stat -c %i "$F")
cp "$F" "$WORK/k-saved"
run "$Z" apply -f "$WORK/k.yaml"
expect_rc "multi: apply again" 0
expect_out "multi: apply again" "service/kubernetes unchanged"
expect_true "multi: apply again: file untouched" cmp -s "$WORK/k-saved" "$F"
expect_eq "multi: apply again: same inode" "$(stat -c %i "$F")" "$INODE"

# Both documents of the file in one run: one write holding both changes.
run "$Z" get ep kubernetes -o yaml
sed 's/192\.0\.2\.11/192.0.2.12/' "$OUT" >"$WORK/k-ep.yaml"
{
	sed 's/extra: "yes"/extra: "again"/' "$WORK/k.yaml"
	echo "---"
	cat "$WORK/k-ep.yaml"
} >"$WORK/k-both.yaml"
run "$Z" apply -f "$WORK/k-both.yaml"
expect_rc "multi: apply both documents in one run" 0
expect_out "multi: apply both documents in one run" "service/kubernetes configured
endpoints/kubernetes configured"
expect_eq "multi: both: still two documents" "$(ndocs "$F")" 2
expect_has "multi: both: the Service changed" "$F" 'extra: again'
expect_has "multi: both: the Endpoints changed" "$F" "192.0.2.12"
expect_lacks "multi: both: the old address is gone" "$F" "192.0.2.11"
expect_valid "multi: both: after apply" "$Z" "8 services, 8 pods, 7 endpoints, 4 namespaces"
run "$Z" get ep kubernetes
expect_has "multi: both: get ep shows the new address" "$OUT" "192.0.2.12:6443"
expect_true "multi: no temporary file left" no_tmp_files "$Z"

# ---- a four-document file: two applied in one run, deletes in the middle and at the ends ------

Z=$(fresh four)
F=$Z/shop/four.yaml
{
	echo "# four services in one file"
	svc_yaml fa shop 81
	echo "---"
	echo "# b, in the middle"
	svc_yaml fb shop 82
	echo "---"
	svc_yaml fc shop 83
	echo "---"
	svc_yaml fd shop 84
	echo "# the end"
} >"$F"
expect_valid "four: before" "$Z" "12 services, 8 pods, 11 endpoints, 4 namespaces"
for i in 0 1 2 3; do docpart "$F" $i >"$WORK/four-$i"; done

{
	svc_yaml fa shop 91 front
	echo "---"
	svc_yaml fc shop 93 front
} >"$WORK/ac.yaml"
run "$Z" apply -f "$WORK/ac.yaml"
expect_rc "four: apply fa and fc in one run" 0
expect_out "four: apply fa and fc in one run" "service/fa configured
service/fc configured"
expect_eq "four: still four documents" "$(ndocs "$F")" 4
same_doc "four: fb untouched" "$WORK/four-1" "$F" 1
same_doc "four: fd untouched" "$WORK/four-3" "$F" 3
expect_eq "four: the file's comment kept" "$(head -1 "$F")" "# four services in one file"
run "$Z" get svc -n shop
expect_has "four: fa has its new port" "$OUT" "91/TCP"
expect_has "four: fc has its new port" "$OUT" "93/TCP"
expect_valid "four: after apply" "$Z" "12 services, 8 pods, 11 endpoints, 4 namespaces"
for i in 0 1 2 3; do docpart "$F" $i >"$WORK/four-$i"; done

run "$Z" delete service fb -n shop
expect_rc "four: delete fb (in the middle)" 0
expect_out "four: delete fb (in the middle)" 'service "fb" deleted'
expect_eq "four: three documents left" "$(ndocs "$F")" 3
same_doc "four: fa untouched by the delete" "$WORK/four-0" "$F" 0
same_doc "four: fc untouched by the delete" "$WORK/four-2" "$F" 1
same_doc "four: fd untouched by the delete" "$WORK/four-3" "$F" 2
expect_valid "four: after delete" "$Z" "11 services, 8 pods, 10 endpoints, 4 namespaces"

run "$Z" delete service fa fd -n shop
expect_rc "four: delete fa and fd in one run" 0
expect_out "four: delete fa and fd in one run" 'service "fa" deleted
service "fd" deleted'
run "$Z" get svc -n shop -o name
expect_has "four: fc is left" "$OUT" "service/fc"
expect_lacks "four: fa is gone" "$OUT" "service/fa"
expect_lacks "four: fd is gone" "$OUT" "service/fd"
expect_has "four: fc's document is whole" "$F" "port: 93"
expect_valid "four: after two deletes" "$Z" "9 services, 8 pods, 8 endpoints, 4 namespaces"

# Naming one object twice deletes it once; a missing one is NotFound, the others still go.
run "$Z" delete service fc fc nope -n shop
expect_rc "four: delete fc fc nope" 1
expect_out "four: delete fc fc nope" 'service "fc" deleted'
expect_has "four: fc named twice: NotFound for the second" "$ERR" \
	'Error from server (NotFound): services "fc" not found'
expect_has "four: nope: NotFound" "$ERR" 'Error from server (NotFound): services "nope" not found'
expect_true "four: the last delete removes the file" [ ! -e "$F" ]
expect_valid "four: after the last delete" "$Z" "8 services, 8 pods, 7 endpoints, 4 namespaces"

# A document svcctl does not know (a Deployment) is never dropped with its neighbour.
Z=$(fresh keep)
F=$Z/shop/web.yaml
{
	svc_yaml web shop 80
	echo "---"
	printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n'
} >"$F"
docpart "$F" 1 >"$WORK/deploy"
run "$Z" delete service web -n shop
expect_rc "keep: delete the Service next to a Deployment" 0
expect_true "keep: the file stays" [ -f "$F" ]
expect_has "keep: the Deployment stays" "$F" "kind: Deployment"
expect_lacks "keep: the Service is gone" "$F" "kind: Service"
same_doc "keep: the Deployment byte for byte" "$WORK/deploy" "$F" 1

# A List item is edited in its List, never by apply or delete.
Z=$(fresh list)
{
	echo "apiVersion: v1"
	echo "kind: List"
	echo "items:"
	svc_yaml inlist shop 80 | sed 's/^/  /; 1s/^  /- /'
} >"$Z/shop/list.yaml"
cp "$Z/shop/list.yaml" "$WORK/list-saved"
svc_yaml inlist shop 81 >"$WORK/inlist.yaml"
run "$Z" apply -f "$WORK/inlist.yaml"
expect_rc "list: apply a List item" 1
expect_has "list: apply a List item: why" "$ERR" "is an item of a List in $Z/shop/list.yaml"
run "$Z" delete service inlist -n shop
expect_rc "list: delete a List item" 1
expect_true "list: the List is untouched" cmp -s "$WORK/list-saved" "$Z/shop/list.yaml"

# Mode and owner of a rewritten file are kept.
Z=$(fresh mode)
chmod 640 "$Z/shop/backend.yaml"
run "$Z" get svc backend -n shop -o yaml
sed 's/^    port: 9090$/    port: 9091/' "$OUT" >"$WORK/backend.yaml"
run "$Z" apply -f "$WORK/backend.yaml"
expect_rc "mode: apply" 0
expect_out "mode: apply" "service/backend configured"
expect_eq "mode: kept" "$(stat -c %a "$Z/shop/backend.yaml")" 640

# ---- concurrent runs: they wait for each other and lose nothing --------------------------------

# 20 creates of different services into one new namespace at once.
Z=$(fresh par)
pids=()
for i in $(seq 1 20); do
	svc_yaml "p$i" par "$((8000 + i))" >"$WORK/p$i.yaml"
done
for i in $(seq 1 20); do
	"$SVCCTL" --zones "$Z" create -f "$WORK/p$i.yaml" >"$WORK/p$i.out" 2>"$WORK/p$i.err" &
	pids+=($!)
done
ok=0
for p in "${pids[@]}"; do
	if wait "$p"; then ok=$((ok + 1)); fi
done
expect_eq "par: 20 parallel creates succeed" "$ok" 20
expect_eq "par: 20 files" "$(find "$Z/par" -name 'p*.service.yaml' | wc -l)" 20
expect_valid "par: after 20 creates" "$Z" "28 services, 8 pods, 27 endpoints, 5 namespaces"
run "$Z" get svc -n par
expect_eq "par: 20 distinct clusterIPs" \
	"$(sed -E 's/ {3,}/|/g' "$OUT" | awk -F'|' 'NR > 1 { print $3 }' | sort -u | wc -l)" 20
expect_true "par: no temporary file left" no_tmp_files "$Z"

# The same object five times at once: one is created, four find it there.
pids=()
svc_yaml same par 80 >"$WORK/same.yaml"
for i in 1 2 3 4 5; do
	"$SVCCTL" --zones "$Z" create -f "$WORK/same.yaml" >"$WORK/same$i.out" 2>"$WORK/same$i.err" &
	pids+=($!)
done
ok=0
for p in "${pids[@]}"; do
	if wait "$p"; then ok=$((ok + 1)); fi
done
expect_eq "par: one of five creates of one object succeeds" "$ok" 1
expect_eq "par: four AlreadyExists" \
	"$(cat "$WORK"/same?.err | grep -c 'Error from server (AlreadyExists): services "same" already exists')" 4

# 10 applies, each of another document of one file, at once.
F=$Z/par/ten.yaml
for i in $(seq 0 9); do
	[ "$i" -gt 0 ] && echo "---"
	svc_yaml "t$i" par "$((100 + i))"
done >"$F"
expect_valid "par: ten.yaml" "$Z" "39 services, 8 pods, 38 endpoints, 5 namespaces"
pids=()
for i in $(seq 0 9); do
	svc_yaml "t$i" par "$((200 + i))" "t$i" >"$WORK/t$i.yaml"
	"$SVCCTL" --zones "$Z" apply -f "$WORK/t$i.yaml" >"$WORK/t$i.out" 2>"$WORK/t$i.err" &
	pids+=($!)
done
ok=0
for p in "${pids[@]}"; do
	if wait "$p"; then ok=$((ok + 1)); fi
done
expect_eq "par: 10 parallel applies succeed" "$ok" 10
expect_eq "par: ten.yaml still has ten documents" "$(ndocs "$F")" 10
expect_valid "par: after 10 applies" "$Z" "39 services, 8 pods, 38 endpoints, 5 namespaces"
expect_true "par: no file added for t*" [ -z "$(find "$Z/par" -name 't*.service.yaml')" ]
run "$Z" get svc -n par
for i in $(seq 0 9); do
	expect_eq "par: t$i has its new port" \
		"$(sed -E 's/ {3,}/|/g' "$OUT" | awk -F'|' -v n="t$i" '$1 == n { print $5 }')" \
		"$((200 + i))/TCP"
done

# A run waits while another holds the lock (flock(1) on the directory stands in for one).
Z=$(fresh lock)
flock "$Z" sh -c 'touch "$1/held"; sleep 1; touch "$1/released"' sh "$WORK" &
LOCKER=$!
track_pid "$LOCKER"
expect_true "lock: holder started" poll 5000 test -e "$WORK/held"
svc_yaml locked shop 80 >"$WORK/locked.yaml"
run "$Z" create -f "$WORK/locked.yaml"
expect_rc "lock: create after the holder" 0
expect_true "lock: create finished only after the lock was released" test -e "$WORK/released"
wait "$LOCKER" 2>/dev/null || true
# A reader waits too, and then sees the writer's whole run.
rm -f "$WORK/held" "$WORK/released"
flock "$Z" sh -c 'touch "$1/held"; sleep 1; touch "$1/released"' sh "$WORK" &
LOCKER=$!
track_pid "$LOCKER"
expect_true "lock: holder started again" poll 5000 test -e "$WORK/held"
run "$Z" get svc locked -n shop -o name
expect_rc "lock: get after the holder" 0
expect_out "lock: get after the holder" "service/locked"
expect_true "lock: get finished only after the lock was released" test -e "$WORK/released"
wait "$LOCKER" 2>/dev/null || true

# ---- item 2: symbolic links --------------------------------------------------------------------

svc_yaml web shop 80 >"$WORK/web.yaml"

# The old temporary name, .<name>.tmp.<pid>, planted as a link to a file of root's: the pid is
# the shell's, which exec makes svcctl's.
Z=$(fresh plant)
echo "precious" >"$WORK/victim"
sh -c 'ln -s "$1" "$2/shop/.web.service.yaml.tmp.$$" && exec "$3" --zones "$2" create -f "$4"' \
	sh "$WORK/victim" "$Z" "$SVCCTL" "$WORK/web.yaml" >"$OUT" 2>"$ERR" && RC=0 || RC=$?
expect_rc "plant: create next to a planted link" 0
expect_eq "plant: the link's target is untouched" "$(cat "$WORK/victim")" "precious"
expect_true "plant: the manifest is a regular file" not_symlink "$Z/shop/web.service.yaml"
expect_has "plant: the manifest holds the service" "$Z/shop/web.service.yaml" "name: web"
expect_valid "plant: after create" "$Z" "9 services, 8 pods, 8 endpoints, 4 namespaces"

# A manifest that is a symbolic link is read, but never written through or replaced.
Z=$(fresh link)
mkdir -p "$WORK/outside"
cp "$WORK/web.yaml" "$WORK/outside/web.yaml"
cp "$WORK/web.yaml" "$WORK/outside-saved"
ln -s "$WORK/outside/web.yaml" "$Z/shop/web.service.yaml"
expect_valid "link: the linked manifest loads" "$Z" "9 services, 8 pods, 8 endpoints, 4 namespaces"
svc_yaml web shop 81 >"$WORK/web-81.yaml"
run "$Z" apply -f "$WORK/web-81.yaml"
expect_rc "link: apply through a linked manifest is refused" 1
expect_has "link: apply: the error names the path" "$ERR" \
	"error: $Z/shop/web.service.yaml is a symbolic link"
expect_true "link: apply: still a link" is_symlink "$Z/shop/web.service.yaml"
expect_true "link: apply: its target untouched" cmp -s "$WORK/outside-saved" "$WORK/outside/web.yaml"
run "$Z" delete service web -n shop
expect_rc "link: delete through a linked manifest is refused" 1
expect_has "link: delete: the error names the path" "$ERR" \
	"error: $Z/shop/web.service.yaml is a symbolic link"
expect_true "link: delete: still a link" is_symlink "$Z/shop/web.service.yaml"
expect_true "link: delete: its target untouched" cmp -s "$WORK/outside-saved" "$WORK/outside/web.yaml"

# Refused as a whole: another object of the same run is not written either.
svc_yaml other shop 80 >"$WORK/other.yaml"
cat "$WORK/other.yaml" <(echo "---") "$WORK/web-81.yaml" >"$WORK/other-web.yaml"
run "$Z" apply -f "$WORK/other-web.yaml"
expect_rc "link: a run with one refused edit" 1
expect_true "link: nothing of it is written" [ ! -e "$Z/shop/other.service.yaml" ]

# A new file's place taken by a (dangling) link: not replaced, and nothing made at its target.
ln -s "$WORK/nowhere" "$Z/shop/dangle.service.yaml"
svc_yaml dangle shop 80 >"$WORK/dangle.yaml"
run "$Z" create -f "$WORK/dangle.yaml"
expect_rc "link: create where a dangling link is" 1
expect_has "link: create where a dangling link is: why" "$ERR" \
	"error: $Z/shop/dangle.service.yaml already exists; not overwritten"
expect_true "link: the dangling link stays a link" is_symlink "$Z/shop/dangle.service.yaml"
expect_true "link: nothing made at its target" [ ! -e "$WORK/nowhere" ]

# A namespace directory that is a link elsewhere is not written into.
Z=$(fresh nslink)
mkdir -p "$WORK/elsewhere"
ln -s "$WORK/elsewhere" "$Z/evil"
svc_yaml web evil 80 >"$WORK/web-evil.yaml"
run "$Z" create -f "$WORK/web-evil.yaml"
expect_rc "nslink: create into a linked namespace directory" 1
expect_has "nslink: the error names the directory" "$ERR" "error: $Z/evil is a symbolic link"
expect_eq "nslink: nothing written at the link's target" "$(ls -A "$WORK/elsewhere")" ""

summary
