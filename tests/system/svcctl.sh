#!/usr/bin/env bash
# svcctl against a copy of the example cluster in zones/: what `get` prints (checked against
# what kubectl prints for the same manifests), create/apply/delete writing into the directory,
# and the diagnostics of broken manifests (file:line:col: field: message).
#
# Run by ctest with SVC_BUILD_DIR (svcctl is $SVC_BUILD_DIR/svcctl) and SVC_SOURCE_DIR. Every
# check runs on its own copy of zones/ in a temporary directory; the repository is never touched.
. "$(dirname "$0")/lib/common.sh"
set -e # any step that fails without a check stops the test
need_programs svcctl

. "$T_LIB/svcctl.sh"

# Rows separated by newlines, cells by '|', printed as kubectl does: every column but the last
# left-aligned and padded to its widest cell, three spaces between columns.
table() {
	awk -F'|' '
	{ row[NR] = $0; n = split($0, c, "|"); if (n > cols) cols = n
	  for (i = 1; i <= n; i++) if (length(c[i]) > w[i]) w[i] = length(c[i]) }
	END { for (r = 1; r <= NR; r++) { n = split(row[r], c, "|"); line = ""
	        for (i = 1; i < n; i++) line = line sprintf("%-*s   ", w[i], c[i])
	        print line c[n] } }'
}

# A kubectl table back to '|'-separated cells, the AGE column replaced by "AGE", so tables of
# objects created during the test (whose age is a few seconds) compare exactly.
cells_noage() {
	sed -E 's/ {3,}/|/g' "$1" | awk -F'|' -v OFS='|' '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "AGE") a = i }
	{ if (NR > 1 && a) $a = "AGE"; print }'
}

# Cell of the row whose NAME column is NAME, in the column titled COL, of a table in FILE.
cell() { # FILE NAME COL
	sed -E 's/ {3,}/|/g' "$1" | awk -F'|' -v name="$2" -v col="$3" '
	NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "NAME") nc = i; if ($i == col) cc = i } next }
	$nc == name { print $cc }'
}

# An IPv4 address inside 10.96.0.0/12 (10.96.0.0 - 10.111.255.255).
in_service_cidr() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	[[ "$1" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] && [ "$a" -eq 10 ] && [ "$b" -ge 96 ] &&
		[ "$b" -le 111 ] && [ "$c" -le 255 ] && [ "$d" -le 255 ]
}

in_node_port_range() {
	[[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 30000 ] && [ "$1" -le 32767 ]
}

all_distinct() {
	[ "$(printf '%s\n' "$@" | sort | uniq -d)" == "" ]
}

# ---- get: the example cluster, as kubectl shows it ---------------------------------------------

Z=$(fresh get)

run "$Z" check
expect_rc "check on zones/" 0
expect_out "check on zones/" "$Z: ok: 8 services, 8 pods, 7 endpoints, 4 namespaces"

run "$Z" get services -A
expect_rc "get services -A" 0
cp "$OUT" "$WORK/services-1"
# The services without a clusterIP get one from 10.96.0.0/12; storefront-lb, a LoadBalancer, also
# gets a nodePort. Their values are deterministic: read them here, check them below.
IP_LEGACY=$(cell "$OUT" legacy-db CLUSTER-IP)
IP_BACKEND=$(cell "$OUT" backend CLUSTER-IP)
IP_FRONTEND=$(cell "$OUT" frontend CLUSTER-IP)
IP_LB=$(cell "$OUT" storefront-lb CLUSTER-IP)
NP_LB=$(cell "$OUT" storefront-lb 'PORT(S)')
NP_LB=${NP_LB#443:}
NP_LB=${NP_LB%/TCP}
for ip in "$IP_LEGACY" "$IP_BACKEND" "$IP_FRONTEND" "$IP_LB"; do
	expect_true "allocated clusterIP '$ip' in 10.96.0.0/12" in_service_cidr "$ip"
done
expect_true "allocated clusterIPs distinct from each other and the fixed ones" \
	all_distinct "$IP_LEGACY" "$IP_BACKEND" "$IP_FRONTEND" "$IP_LB" 10.96.0.1 10.96.0.10
expect_true "storefront-lb nodePort '$NP_LB' in 30000-32767" in_node_port_range "$NP_LB"
expect_true "storefront-lb nodePort differs from frontend's 30080" [ "$NP_LB" != 30080 ]

SERVICES_A=$(table <<EOF
NAMESPACE|NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE
data|db|ClusterIP|None|<none>|5432/TCP|10d
data|legacy-db|ClusterIP|$IP_LEGACY|<none>|3306/TCP|10d
default|kubernetes|ClusterIP|10.96.0.1|<none>|443/TCP|10d
kube-system|kube-dns|ClusterIP|10.96.0.10|<none>|53/UDP,53/TCP,9153/TCP|10d
shop|backend|ClusterIP|$IP_BACKEND|<none>|80/TCP,9090/TCP|10d
shop|frontend|NodePort|$IP_FRONTEND|<none>|80:30080/TCP|10d
shop|payments-api|ExternalName|<none>|api.payments.example.com|<none>|10d
shop|storefront-lb|LoadBalancer|$IP_LB|203.0.113.10|443:$NP_LB/TCP|10d
EOF
)
expect_out "get services -A" "$SERVICES_A"
expect_text "get services -A: nothing on stderr" "$ERR" ""

# The same allocations on a second run, and in another copy at another path.
run "$Z" get services -A
expect_out "get services -A, second run" "$SERVICES_A"
Z2=$(fresh get2)
run "$Z2" get services -A
expect_out "get services -A, another copy" "$SERVICES_A"

run "$Z" get services -A -o wide
expect_rc "get services -A -o wide" 0
expect_out "get services -A -o wide" "$(table <<EOF
NAMESPACE|NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE|SELECTOR
data|db|ClusterIP|None|<none>|5432/TCP|10d|app=db
data|legacy-db|ClusterIP|$IP_LEGACY|<none>|3306/TCP|10d|<none>
default|kubernetes|ClusterIP|10.96.0.1|<none>|443/TCP|10d|<none>
kube-system|kube-dns|ClusterIP|10.96.0.10|<none>|53/UDP,53/TCP,9153/TCP|10d|k8s-app=kube-dns
shop|backend|ClusterIP|$IP_BACKEND|<none>|80/TCP,9090/TCP|10d|app=backend
shop|frontend|NodePort|$IP_FRONTEND|<none>|80:30080/TCP|10d|app=frontend
shop|payments-api|ExternalName|<none>|api.payments.example.com|<none>|10d|<none>
shop|storefront-lb|LoadBalancer|$IP_LB|203.0.113.10|443:$NP_LB/TCP|10d|app=frontend
EOF
)"

run "$Z" get svc -n shop
expect_rc "get svc -n shop" 0
expect_out "get svc -n shop" "$(table <<EOF
NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE
backend|ClusterIP|$IP_BACKEND|<none>|80/TCP,9090/TCP|10d
frontend|NodePort|$IP_FRONTEND|<none>|80:30080/TCP|10d
payments-api|ExternalName|<none>|api.payments.example.com|<none>|10d
storefront-lb|LoadBalancer|$IP_LB|203.0.113.10|443:$NP_LB/TCP|10d
EOF
)"

# No -n: the default namespace.
run "$Z" get services
expect_out "get services (namespace default)" "$(table <<EOF
NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE
kubernetes|ClusterIP|10.96.0.1|<none>|443/TCP|10d
EOF
)"

run "$Z" get svc -n shop -o name
expect_rc "get svc -n shop -o name" 0
expect_out "get svc -n shop -o name" "service/backend
service/frontend
service/payments-api
service/storefront-lb"

# Endpoints: ready pods only (backend-5c4b-c, 10.244.2.21, is not ready), the named targetPort
# "http" resolved per pod (8080 on backend-5c4b-a, 8081 on backend-5c4b-b), every address listed.
run "$Z" get endpoints -A
expect_rc "get endpoints -A" 0
expect_out "get endpoints -A" "$(table <<'EOF'
NAMESPACE|NAME|ENDPOINTS|AGE
data|db|10.244.1.30:5432,10.244.2.30:5432|10d
data|legacy-db|192.0.2.50:3306|10d
default|kubernetes|192.0.2.11:6443|10d
kube-system|kube-dns|10.244.1.2:5353,10.244.1.2:5353,10.244.1.2:9153|10d
shop|backend|10.244.1.20:8080,10.244.1.20:9090,10.244.2.20:8081,10.244.2.20:9090|10d
shop|frontend|10.244.1.10:8080,10.244.2.10:8080|10d
shop|storefront-lb|10.244.1.10:8443,10.244.2.10:8443|10d
EOF
)"
expect_lacks "get endpoints -A: not-ready pod left out" "$OUT" "10.244.2.21"
expect_lacks "get endpoints -A: never shortened" "$OUT" "more"

run "$Z" get ep backend -n shop
expect_rc "get ep backend -n shop" 0
expect_out "get ep backend -n shop" "$(table <<'EOF'
NAME|ENDPOINTS|AGE
backend|10.244.1.20:8080,10.244.1.20:9090,10.244.2.20:8081,10.244.2.20:9090|10d
EOF
)"

run "$Z" get pods -A -o wide
expect_rc "get pods -A -o wide" 0
expect_out "get pods -A -o wide" "$(table <<'EOF'
NAMESPACE|NAME|READY|STATUS|RESTARTS|AGE|IP|NODE|NOMINATED NODE|READINESS GATES
data|db-0|1/1|Running|0|10d|10.244.1.30|node-a|<none>|<none>
data|db-1|1/1|Running|0|10d|10.244.2.30|node-b|<none>|<none>
kube-system|svcdns-node-a|1/1|Running|0|10d|10.244.1.2|node-a|<none>|<none>
shop|backend-5c4b-a|1/1|Running|0|10d|10.244.1.20|node-a|<none>|<none>
shop|backend-5c4b-b|1/1|Running|0|10d|10.244.2.20|node-b|<none>|<none>
shop|backend-5c4b-c|0/1|Running|0|10d|10.244.2.21|node-b|<none>|<none>
shop|frontend-7d9f-a|1/1|Running|0|10d|10.244.1.10|node-a|<none>|<none>
shop|frontend-7d9f-b|1/1|Running|0|10d|10.244.2.10|node-b|<none>|<none>
EOF
)"

run "$Z" get pods -n shop
expect_rc "get pods -n shop" 0
expect_out "get pods -n shop" "$(table <<'EOF'
NAME|READY|STATUS|RESTARTS|AGE
backend-5c4b-a|1/1|Running|0|10d
backend-5c4b-b|1/1|Running|0|10d
backend-5c4b-c|0/1|Running|0|10d
frontend-7d9f-a|1/1|Running|0|10d
frontend-7d9f-b|1/1|Running|0|10d
EOF
)"

run "$Z" get namespaces
expect_rc "get namespaces" 0
expect_out "get namespaces" "$(table <<'EOF'
NAME|STATUS|AGE
data|Active|10d
default|Active|10d
kube-system|Active|10d
shop|Active|10d
EOF
)"

run "$Z" get svc backend -n shop -o yaml
expect_rc "get svc backend -n shop -o yaml" 0
expect_has "get svc backend -o yaml: one object" "$OUT" "kind: Service"
expect_lacks "get svc backend -o yaml: not a List" "$OUT" "kind: List"
expect_has "get svc backend -o yaml: name" "$OUT" "  name: backend"
expect_has "get svc backend -o yaml: namespace" "$OUT" "  namespace: shop"
expect_has "get svc backend -o yaml: allocated clusterIP" "$OUT" "  clusterIP: $IP_BACKEND"
expect_has "get svc backend -o yaml: named targetPort" "$OUT" "    targetPort: http"
expect_has "get svc backend -o yaml: defaulted targetPort" "$OUT" "    targetPort: 9090"
expect_has "get svc backend -o yaml: type" "$OUT" "  type: ClusterIP"
cp "$OUT" "$WORK/backend.yaml"

run "$Z" get svc -n shop -o yaml
expect_has "get svc -n shop -o yaml: a List" "$OUT" "kind: List"

run "$Z" get svc nope -n shop
expect_rc "get svc nope: NotFound" 1
expect_has "get svc nope: NotFound" "$ERR" 'Error from server (NotFound): services "nope" not found'
expect_text "get svc nope: no table" "$OUT" ""

run "$Z" get pods frontend-7d9f-a -n data
expect_rc "get pod in the wrong namespace: NotFound" 1
expect_has "get pod in the wrong namespace: NotFound" "$ERR" \
	'Error from server (NotFound): pods "frontend-7d9f-a" not found'

# ---- create ------------------------------------------------------------------------------------

Z=$(fresh create)
cat >"$WORK/web.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  type: NodePort
  selector:
    app: frontend
  ports:
  - name: http
    port: 8000
    targetPort: 8080
EOF

run "$Z" create -f "$WORK/web.yaml"
expect_rc "create -f web.yaml" 0
expect_out "create -f web.yaml" "service/web created"
expect_true "create wrote shop/web.service.yaml" [ -f "$Z/shop/web.service.yaml" ]
expect_lacks "create: no temporary file left" <(ls -A "$Z/shop") ".tmp"

run "$Z" get svc web -n shop
expect_rc "get svc web after create" 0
cp "$OUT" "$WORK/web-1"
IP_WEB=$(cell "$OUT" web CLUSTER-IP)
NP_WEB=$(cell "$OUT" web 'PORT(S)')
NP_WEB=${NP_WEB#8000:}
NP_WEB=${NP_WEB%/TCP}
expect_true "created service's clusterIP '$IP_WEB' in 10.96.0.0/12" in_service_cidr "$IP_WEB"
expect_true "created service's clusterIP is free" all_distinct "$IP_WEB" "$IP_LEGACY" \
	"$IP_BACKEND" "$IP_FRONTEND" "$IP_LB" 10.96.0.1 10.96.0.10
expect_true "created service's nodePort '$NP_WEB' in 30000-32767" in_node_port_range "$NP_WEB"
expect_true "created service's nodePort is free" all_distinct "$NP_WEB" 30080 "$NP_LB"
expect_text "get svc web after create" <(cells_noage "$OUT") \
	"NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE
web|NodePort|$IP_WEB|<none>|8000:$NP_WEB/TCP|AGE"
expect_has "created file holds the clusterIP" "$Z/shop/web.service.yaml" "clusterIP: $IP_WEB"
expect_has "created file holds the nodePort" "$Z/shop/web.service.yaml" "nodePort: $NP_WEB"
expect_has "created file has a creationTimestamp" "$Z/shop/web.service.yaml" "creationTimestamp: "

run "$Z" get svc web -n shop
expect_text "get svc web again: same allocation" <(cells_noage "$OUT") "$(cells_noage "$WORK/web-1")"

# Adding a service moves no other service's address.
run "$Z" get services -A
expect_text "other services keep their allocations" \
	<(sed -E 's/ {3,}/|/g' "$OUT" | grep -v '^shop|web|') "$(sed -E 's/ {3,}/|/g' <<<"$SERVICES_A")"

cp "$Z/shop/web.service.yaml" "$WORK/web-saved"
run "$Z" create -f "$WORK/web.yaml"
expect_rc "create again: AlreadyExists" 1
expect_has "create again: AlreadyExists" "$ERR" \
	'Error from server (AlreadyExists): services "web" already exists'
expect_true "create again: file untouched" cmp -s "$WORK/web-saved" "$Z/shop/web.service.yaml"

sed 's/name: web$/name: web-stdin/' "$WORK/web.yaml" >"$WORK/web-stdin.yaml"
run_stdin "$WORK/web-stdin.yaml" "$Z" create -f -
expect_rc "create -f - (stdin)" 0
expect_out "create -f - (stdin)" "service/web-stdin created"
expect_true "create -f - wrote shop/web-stdin.service.yaml" [ -f "$Z/shop/web-stdin.service.yaml" ]
run "$Z" get svc web-stdin -n shop
expect_rc "get svc web-stdin" 0
IP_STDIN=$(cell "$OUT" web-stdin CLUSTER-IP)
NP_STDIN=$(cell "$OUT" web-stdin 'PORT(S)')
NP_STDIN=${NP_STDIN#8000:}
NP_STDIN=${NP_STDIN%/TCP}
expect_true "web-stdin: new clusterIP" all_distinct "$IP_STDIN" "$IP_WEB" "$IP_LEGACY" \
	"$IP_BACKEND" "$IP_FRONTEND" "$IP_LB" 10.96.0.1 10.96.0.10
expect_true "web-stdin: clusterIP in 10.96.0.0/12" in_service_cidr "$IP_STDIN"
expect_true "web-stdin: new nodePort" all_distinct "$NP_STDIN" "$NP_WEB" 30080 "$NP_LB"

# A service that does not fit the cluster is refused, and nothing is written.
sed -e 's/name: web$/name: web-clash/' -e 's/targetPort: 8080/targetPort: 8080\n    nodePort: 30080/' \
	"$WORK/web.yaml" >"$WORK/web-clash.yaml"
run "$Z" create -f "$WORK/web-clash.yaml"
expect_rc "create with a nodePort in use" 1
expect_has "create with a nodePort in use: names the field" "$ERR" "spec.ports[0].nodePort"
expect_true "create with a nodePort in use: nothing written" [ ! -e "$Z/shop/web-clash.service.yaml" ]

run "$Z" check
expect_rc "check after create" 0

# ---- apply -------------------------------------------------------------------------------------

sed 's/port: 8000/port: 8001/' "$WORK/web.yaml" >"$WORK/web-8001.yaml"
run "$Z" apply -f "$WORK/web-8001.yaml"
expect_rc "apply changed port" 0
expect_out "apply changed port" "service/web configured"
run "$Z" get svc web -n shop
expect_text "apply keeps clusterIP and nodePort" <(cells_noage "$OUT") \
	"NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE
web|NodePort|$IP_WEB|<none>|8001:$NP_WEB/TCP|AGE"

cp "$Z/shop/web.service.yaml" "$WORK/web-saved"
run "$Z" apply -f "$WORK/web-8001.yaml"
expect_rc "apply unchanged" 0
expect_out "apply unchanged" "service/web unchanged"
expect_true "apply unchanged: file untouched" cmp -s "$WORK/web-saved" "$Z/shop/web.service.yaml"

sed 's/name: web$/name: web-apply/' "$WORK/web.yaml" >"$WORK/web-apply.yaml"
run "$Z" apply -f "$WORK/web-apply.yaml"
expect_rc "apply a new service" 0
expect_out "apply a new service" "service/web-apply created"

# What get -o yaml prints can be applied back; the service keeps its address.
run "$Z" apply -f "$WORK/backend.yaml"
expect_rc "apply get -o yaml output" 0
expect_out "apply get -o yaml output" "service/backend configured"
run "$Z" get svc backend -n shop
expect_eq "apply get -o yaml output: same clusterIP" "$(cell "$OUT" backend CLUSTER-IP)" "$IP_BACKEND"

run "$Z" check
expect_rc "check after apply" 0

# ---- delete ------------------------------------------------------------------------------------

run "$Z" delete service web -n shop
expect_rc "delete service web" 0
expect_out "delete service web" 'service "web" deleted'
expect_true "delete removed the file" [ ! -e "$Z/shop/web.service.yaml" ]
run "$Z" get svc web -n shop
expect_rc "get deleted service: NotFound" 1

run "$Z" delete service web -n shop
expect_rc "delete it again: NotFound" 1
expect_has "delete it again: NotFound" "$ERR" 'Error from server (NotFound): services "web" not found'

# data/legacy-db.yaml holds the Service and its Endpoints: only the Service goes.
run "$Z" delete service legacy-db -n data
expect_rc "delete service legacy-db" 0
expect_out "delete service legacy-db" 'service "legacy-db" deleted'
expect_true "legacy-db.yaml still there" [ -f "$Z/data/legacy-db.yaml" ]
expect_lacks "legacy-db.yaml: Service gone" "$Z/data/legacy-db.yaml" "kind: Service"
expect_has "legacy-db.yaml: Endpoints kept" "$Z/data/legacy-db.yaml" "kind: Endpoints"
run "$Z" check
expect_rc "check after delete" 0
run "$Z" get svc -n data
expect_out "get svc -n data after delete" "$(table <<'EOF'
NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE
db|ClusterIP|None|<none>|5432/TCP|10d
EOF
)"
run "$Z" get ep legacy-db -n data
expect_rc "Endpoints of the deleted service" 0
expect_has "Endpoints of the deleted service" "$OUT" "192.0.2.50:3306"

# ---- broken manifests: every problem as file:line:col: field: message, exit 1 ------------------

# check_broken NAME DIR WANT...: check and get services -A both fail and print each WANT line.
check_broken() {
	local name=$1 dir=$2 want
	shift 2
	run "$dir" check
	expect_rc "$name: check" 1
	for want in "$@"; do
		expect_has "$name: check" "$OUT" "$want"
	done
	run "$dir" get services -A
	expect_rc "$name: get services -A" 1
	for want in "$@"; do
		expect_has "$name: get services -A" "$ERR" "$want"
	done
	# What serves is shown all the same (kube-dns is in no broken file).
	expect_has "$name: get services -A shows what serves" "$OUT" "kube-dns"
}

BAD_YAML='apiVersion: v1
kind: Service
metadata:
  name: bad
  namespace: shop
spec:
  type: ClusterIP: oops
  ports:
  - port: 80'

# (a) YAML syntax
Z=$(fresh bad-yaml)
printf '%s\n' "$BAD_YAML" >"$Z/shop/bad.yaml"
check_broken "broken YAML" "$Z" "$Z/shop/bad.yaml:7:"
run "$Z" check
expect_has "broken YAML: summary" "$OUT" "$Z: 1 errors, 0 warnings"

# (b) a nodePort outside 30000-32767
Z=$(fresh bad-nodeport)
sed -i 's/nodePort: 30080/nodePort: 8080/' "$Z/shop/frontend.yaml"
check_broken "nodePort 8080" "$Z" \
	"$Z/shop/frontend.yaml:18:15: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"

# (c) two services with the same clusterIP (backend takes kube-dns's 10.96.0.10)
Z=$(fresh bad-clusterip)
sed -i 's/^spec:$/spec:\n  clusterIP: 10.96.0.10/' "$Z/shop/backend.yaml"
check_broken "duplicate clusterIP" "$Z" \
	"$Z/shop/backend.yaml:11:14: spec.clusterIP: Invalid value: \"10.96.0.10\": provided IP is already allocated"

# (d) a port without port
Z=$(fresh bad-port)
sed -i '/^    port: 9090$/d' "$Z/shop/backend.yaml"
check_broken "port missing" "$Z" "$Z/shop/backend.yaml:17:5: spec.ports[1].port: Required value"
run "$Z" check
expect_eq "port missing: reported once" "$(grep -c 'spec.ports\[1\].port' "$OUT")" 1

# All four at once: every one is reported.
Z=$(fresh bad-all)
printf '%s\n' "$BAD_YAML" >"$Z/shop/bad.yaml"
sed -i 's/nodePort: 30080/nodePort: 8080/' "$Z/shop/frontend.yaml"
sed -i 's/^spec:$/spec:\n  clusterIP: 10.96.0.10/' "$Z/shop/backend.yaml"
sed -i '/^    port: 9090$/d' "$Z/shop/backend.yaml"
# backend.yaml is invalid on its own (a port without a number), so it is left out whole and its
# clusterIP, which kube-dns holds, contests nothing.
check_broken "three files in error" "$Z" \
	"$Z/shop/bad.yaml:7:" \
	"$Z/shop/frontend.yaml:18:15: spec.ports[0].nodePort: " \
	"$Z/shop/backend.yaml:18:5: spec.ports[1].port: Required value"
run "$Z" check
expect_has "three files in error: summary" "$OUT" "$Z: 3 errors, 0 warnings"

# A broken directory refuses writes.
run "$Z" create -f "$WORK/web.yaml"
expect_rc "create into a broken directory" 1
expect_has "create into a broken directory says nothing changed" "$ERR" \
	"error: $Z: 3 errors; nothing was changed"
expect_true "create into a broken directory: nothing written" [ ! -e "$Z/shop/web.service.yaml" ]

# ---- warnings: reported with file:line, exit 0 -------------------------------------------------

Z=$(fresh warn-field)
sed -i 's/^spec:$/spec:\n  loadBalancerClass: example.com\/lb/' "$Z/shop/storefront-lb.yaml"
age "$Z"
run "$Z" check
expect_rc "unsupported field: check" 0
expect_has "unsupported field: check" "$OUT" \
	"$Z/shop/storefront-lb.yaml:9:22: warning: spec.loadBalancerClass: "
expect_has "unsupported field: check summary" "$OUT" "ok: 8 services, 8 pods, 7 endpoints, 4 namespaces, 1 warnings"
run "$Z" get services -A
expect_rc "unsupported field: get services -A" 0
expect_has "unsupported field: get services -A warns" "$ERR" \
	"$Z/shop/storefront-lb.yaml:9:22: warning: spec.loadBalancerClass: "
expect_out "unsupported field: get services -A" "$SERVICES_A"

Z=$(fresh warn-kind)
cat >"$Z/shop/web-deploy.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
EOF
run "$Z" check
expect_rc "unknown kind: check" 0
expect_has "unknown kind: check" "$OUT" "$Z/shop/web-deploy.yaml:1:1: warning: "
expect_has "unknown kind: check names the kind" "$OUT" "Deployment"
run "$Z" get services -A
expect_rc "unknown kind: get services -A" 0
expect_has "unknown kind: get services -A warns" "$ERR" "$Z/shop/web-deploy.yaml:1:1: warning: "

# ---- load balancers: --lb-pool, loadBalancerSourceRanges, healthCheckNodePort -----------------

# An IPv4 address inside 192.0.2.0/28 but not its network or broadcast address.
in_lb_pool() {
	[[ "$1" =~ ^192\.0\.2\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] &&
		[ "${BASH_REMATCH[1]}" -le 14 ]
}

Z=$(fresh lb)
cat >"$Z/shop/edge.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: edge
  namespace: shop
spec:
  type: LoadBalancer
  loadBalancerSourceRanges: [198.51.100.0/24]
  selector:
    app: frontend
  ports:
  - port: 80
    targetPort: 8080
EOF
age "$Z"
run "$Z" check
expect_rc "lb: check" 0
expect_out "lb: check" "$Z: ok: 9 services, 8 pods, 8 endpoints, 4 namespaces"

# Without a pool the new service has no address yet; the one with a status keeps its own.
run "$Z" get services -n shop
expect_rc "lb: get services without --lb-pool" 0
expect_eq "lb: edge pending without --lb-pool" "$(cell "$OUT" edge EXTERNAL-IP)" "<pending>"
expect_eq "lb: storefront-lb keeps its status ingress" "$(cell "$OUT" storefront-lb EXTERNAL-IP)" \
	"203.0.113.10"

run "$Z" --lb-pool 192.0.2.0/28 get services -n shop
expect_rc "lb: get services --lb-pool" 0
LB_EDGE=$(cell "$OUT" edge EXTERNAL-IP)
expect_true "lb: edge gets '$LB_EDGE' from 192.0.2.0/28" in_lb_pool "$LB_EDGE"
expect_eq "lb: storefront-lb unchanged with --lb-pool" "$(cell "$OUT" storefront-lb EXTERNAL-IP)" \
	"203.0.113.10"
expect_text "lb: get services --lb-pool: nothing on stderr" "$ERR" ""
# The same address every time, with the flag anywhere, as --lb-pool=, -o wide and -o yaml.
run "$Z" get services -n shop --lb-pool=192.0.2.0/28 -o wide
expect_eq "lb: -o wide shows the same address" "$(cell "$OUT" edge EXTERNAL-IP)" "$LB_EDGE"
run "$Z" --lb-pool 192.0.2.0/28 get service edge -n shop -o yaml
expect_rc "lb: get service edge -o yaml" 0
expect_has "lb: -o yaml status" "$OUT" "  loadBalancer:"
expect_has "lb: -o yaml ingress ip" "$OUT" "    - ip: $LB_EDGE"
expect_has "lb: -o yaml source ranges" "$OUT" "  - 198.51.100.0/24"
run "$Z" get service edge -n shop -o yaml
expect_has "lb: -o yaml without --lb-pool: an empty status, as kubectl prints it" "$OUT" "  loadBalancer: {}"
expect_lacks "lb: ... and no ingress" "$OUT" "ingress:"
# spec.loadBalancerIP is the address when the status has none.
sed -i 's/^  type: LoadBalancer$/  type: LoadBalancer\n  loadBalancerIP: 192.0.2.5/' "$Z/shop/edge.yaml"
run "$Z" --lb-pool 192.0.2.0/28 get services -n shop
expect_eq "lb: loadBalancerIP wins over the pool" "$(cell "$OUT" edge EXTERNAL-IP)" "192.0.2.5"
run "$Z" get services -n shop
expect_eq "lb: loadBalancerIP without --lb-pool" "$(cell "$OUT" edge EXTERNAL-IP)" "192.0.2.5"

# Bad pools are refused before anything is read.
run "$Z" --lb-pool 192.0.2.1/28 get services
expect_rc "lb: bad --lb-pool" 1
expect_has "lb: bad --lb-pool says why" "$ERR" \
	"error: --lb-pool 192.0.2.1/28: expected one or two CIDRs"
run "$Z" --lb-pool 10.96.0.0/24 get services
expect_rc "lb: --lb-pool inside the service CIDR" 1
expect_has "lb: overlap says why" "$ERR" \
	"load-balancer pool 10.96.0.0/24 overlaps the service CIDR 10.96.0.0/12"

# A full pool leaves the newest service pending, with a warning; the rest still works.
sed -i '/loadBalancerIP/d' "$Z/shop/edge.yaml"
sed 's/name: edge$/name: edge2/' "$Z/shop/edge.yaml" >"$Z/shop/edge2.yaml"
age "$Z"
run "$Z" --lb-pool 192.0.2.9/32 get services -n shop
expect_rc "lb: full pool is not an error" 0
expect_eq "lb: full pool: edge gets the one address" "$(cell "$OUT" edge EXTERNAL-IP)" "192.0.2.9"
expect_eq "lb: full pool: edge2 pending" "$(cell "$OUT" edge2 EXTERNAL-IP)" "<pending>"
expect_has "lb: full pool warns" "$ERR" \
	"$Z/shop/edge2.yaml:7:9: warning: status.loadBalancer.ingress: failed to allocate a load-balancer IP: pool 192.0.2.9/32 is full (range exhausted)"

# Bad source ranges are errors at their line and column.
sed -i 's|^  loadBalancerSourceRanges: .*$|  loadBalancerSourceRanges:\n  - 10.0.0.0/8\n  - 10.0.0.0/40|' \
	"$Z/shop/edge2.yaml"
run "$Z" check
expect_rc "lb: bad source range" 1
expect_has "lb: bad source range: where and why" "$OUT" \
	"$Z/shop/edge2.yaml:10:5: spec.loadBalancerSourceRanges[1]: Invalid value: \"10.0.0.0/40\": must be a valid CIDR value"

# healthCheckNodePort: allocated for LoadBalancer + Local (storefront-lb), written by create and
# kept by apply; refused elsewhere.
Z=$(fresh hc)
run "$Z" get service storefront-lb -n shop -o yaml
HC=$(sed -n 's/^  healthCheckNodePort: //p' "$OUT")
expect_true "hc: storefront-lb healthCheckNodePort '$HC' in 30000-32767" in_node_port_range "$HC"
expect_true "hc: differs from its nodePort" [ "$HC" != "$(sed -n 's/^    nodePort: //p' "$OUT")" ]
cat >"$WORK/hc.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: hc-web
  namespace: shop
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector:
    app: frontend
  ports:
  - port: 80
EOF
run "$Z" create -f "$WORK/hc.yaml"
expect_rc "hc: create" 0
HC_WEB=$(sed -n 's/^  healthCheckNodePort: //p' "$Z/shop/hc-web.service.yaml")
expect_true "hc: create writes the allocated healthCheckNodePort '$HC_WEB'" \
	in_node_port_range "$HC_WEB"
run "$Z" apply -f "$WORK/hc.yaml"
expect_rc "hc: apply" 0
expect_eq "hc: apply keeps it" \
	"$(sed -n 's/^  healthCheckNodePort: //p' "$Z/shop/hc-web.service.yaml")" "$HC_WEB"
sed -i 's/^  externalTrafficPolicy: Local$/  healthCheckNodePort: 31999/' "$WORK/hc.yaml"
run "$Z" apply -f "$WORK/hc.yaml"
expect_rc "hc: apply with healthCheckNodePort but policy Cluster" 1
expect_has "hc: refused with where and why" "$ERR" \
	"spec.healthCheckNodePort: Invalid value: 31999: may only be set when \`type\` is 'LoadBalancer' and \`externalTrafficPolicy\` is 'Local'"

# The repository's zones/ was only read: it still matches the first copy.
expect_true "zones/ unchanged" diff -rq "$ZONES_SRC" "$WORK/get"

summary
