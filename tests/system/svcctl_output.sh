#!/usr/bin/env bash
# svcctl get's kubectl outputs, from the directory and from etcd alike: -o json (an object alone
# when one is named, else a List with an empty resourceVersion; keys sorted, four spaces of
# indent, numbers as numbers: tests/system/fixtures/backend.service.json is the example
# cluster's backend service as kubectl prints a Service), -o jsonpath (fields, [*], [N],
# {range}...{end}, string literals, kubectl's examples), -o custom-columns, label selectors (-l
# with =, ==, !=, in, notin, key, !key), --show-labels, expose (a pod, a service), and describe
# of a service, pod (with its prober's findings), endpoints and node in kubectl's layout; get -w
# prints a change made by another svcctl.
. "$(dirname "$0")/lib/common.sh"
need_programs svcctl
need_tools etcd etcdctl python3

CPORT=$(pick_port)
PPORT=$(pick_port)
EP=http://127.0.0.1:$CPORT
etcd --name o --data-dir "$WORK/etcd" --listen-client-urls "$EP" --advertise-client-urls "$EP" \
	--listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
	--initial-cluster "o=http://127.0.0.1:$PPORT" >"$WORK/etcd.log" 2>&1 &
track_pid $!
if ! poll 20000 env ETCDCTL_API=3 etcdctl --endpoints "$EP" endpoint health >/dev/null 2>&1; then
	echo "$T_NAME: etcd did not start" >&2
	tail -n 5 "$WORK/etcd.log" >&2
	exit 1
fi
"$SVCCTL" --etcd "$EP" apply -f "$ZONES_SRC" >"$WORK/apply.log" 2>&1 || {
	cat "$WORK/apply.log" >&2
	exit 1
}

# Drop what a store stamps (resourceVersion, creationTimestamp), so both sources print the same.
norm() {
	"$PY" -c '
import json, sys
def strip(o):
    if isinstance(o, dict):
        if isinstance(o.get("metadata"), dict) and o.get("kind") != "List":
            o["metadata"].pop("resourceVersion", None)
            o["metadata"].pop("creationTimestamp", None)
        for v in o.values(): strip(v)
    elif isinstance(o, list):
        for v in o: strip(v)
d = json.load(sys.stdin); strip(d); print(json.dumps(d, indent=4, sort_keys=True))'
}

for mode in directory etcd; do
	rm -rf "$WORK/zones" && cp -R "$ZONES_SRC" "$WORK/zones"
	cat >"$WORK/zones/node-a.yaml" <<'EOF'
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {kubernetes.io/hostname: node-a}}
spec: {podCIDR: 10.244.1.0/24}
status:
  addresses: [{type: InternalIP, address: 10.250.0.1}, {type: Hostname, address: node-a}]
  conditions: [{type: Ready, status: "True"}]
EOF
	[ "$mode" = etcd ] && "$SVCCTL" --etcd "$EP" apply -f "$WORK/zones/node-a.yaml" >/dev/null
	if [ "$mode" = directory ]; then SRC=(--zones "$WORK/zones"); else SRC=(--etcd "$EP"); fi
	ctl() { "$SVCCTL" "${SRC[@]}" "$@"; }
	M="($mode)"

	# ---- -o json ----
	ctl get svc backend -n shop -o json >"$WORK/one.json"
	expect_true "$M -o json of one object: valid JSON" "$PY" -m json.tool "$WORK/one.json" /dev/null
	expect_eq "$M -o json of the backend service is kubectl's Service" \
		"$(norm <"$WORK/one.json")" "$(norm <"$SVC_SOURCE_DIR/tests/system/fixtures/backend.service.json")"
	if [ "$mode" = directory ]; then
		expect_true "$M ... byte for byte (four spaces, keys sorted)" \
			cmp -s "$WORK/one.json" "$SVC_SOURCE_DIR/tests/system/fixtures/backend.service.json"
	else
		expect_true "$M ... with the store's resourceVersion" \
			grep -Eq '^        "resourceVersion": "[0-9]+",?$' "$WORK/one.json"
	fi
	out=$(ctl get svc -n shop -o json | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["apiVersion"], d["kind"], json.dumps(d["metadata"]), " ".join(i["metadata"]["name"] for i in d["items"]))')
	expect_eq "$M -o json of several: a List" "$out" \
		'v1 List {"resourceVersion": ""} backend frontend payments-api storefront-lb'
	out=$(ctl get pods -n data -o json | "$PY" -c 'import json,sys; d=json.load(sys.stdin); c=d["items"][0]["spec"]["containers"][0]; print(type(c["ports"][0]["containerPort"]).__name__, d["items"][0]["status"]["conditions"][0]["status"])')
	expect_eq "$M -o json: numbers as numbers, quoted strings as strings" "$out" "int True"

	# ---- -o jsonpath ----
	expect_eq "$M jsonpath: a field" "$(ctl get svc backend -n shop -o jsonpath='{.spec.clusterIP}')" 10.106.35.83
	expect_eq "$M jsonpath: [*] over a List" "$(ctl get svc -n shop -o jsonpath='{.items[*].metadata.name}')" \
		"backend frontend payments-api storefront-lb"
	expect_eq "$M jsonpath: [N] and text around" \
		"$(ctl get svc backend -n shop -o jsonpath='port {.spec.ports[1].port}/{.spec.ports[1].protocol}')" \
		"port 9090/TCP"
	expect_eq "$M jsonpath: [-1]" "$(ctl get svc backend -n shop -o jsonpath='{.spec.ports[-1].name}')" grpc
	expect_eq "$M jsonpath: range, and literals" \
		"$(ctl get pods -n data -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.status.podIP}{"\n"}{end}')" \
		"$(printf 'db-0\t10.244.1.30\ndb-1\t10.244.2.30')"
	expect_eq "$M jsonpath: an object prints as JSON" \
		"$(ctl get svc backend -n shop -o jsonpath='{.spec.selector}')" '{"app":"backend"}'
	out=$(ctl get svc backend -n shop -o jsonpath='{.spec.ports[' 2>&1)
	rc=$?
	expect_true "$M jsonpath: a broken template is an error ($rc): $out" [ "$rc" -ne 0 ]

	# ---- -l and --show-labels ----
	names() { ctl get pods -A "$@" -o jsonpath='{.items[*].metadata.name}'; }
	expect_eq "$M -l app=db" "$(names -l app=db)" "db-0 db-1"
	expect_eq "$M -l app==db" "$(names -l app==db)" "db-0 db-1"
	expect_eq "$M -l 'app in (db,frontend)'" "$(names -l 'app in (db,frontend)')" \
		"db-0 db-1 frontend-7d9f-a frontend-7d9f-b"
	expect_eq "$M -l 'app notin (db,backend,frontend)' (pods without app too)" \
		"$(names -l 'app notin (db,backend,frontend)')" "svcdns-node-a"
	expect_eq "$M -l 'app!=backend,app' (two requirements)" "$(names -l 'app!=backend,app')" \
		"db-0 db-1 frontend-7d9f-a frontend-7d9f-b"
	expect_eq "$M -l k8s-app (exists)" "$(names -l k8s-app)" "svcdns-node-a"
	expect_eq "$M -l '!app'" "$(names -l '!app')" "svcdns-node-a"
	out=$(ctl get pods -A -l 'app in (db' 2>&1)
	expect_eq "$M a selector that does not parse" "$out" 'error: unable to parse requirement: "app in (db"'
	out=$(ctl get svc -n shop -l app=backend --show-labels)
	expect_eq "$M --show-labels: the last column" "$(awk 'NR == 1 {print $NF} NR == 2 {print $1, $NF}' <<<"$out" | tr '\n' ' ')" \
		"LABELS backend app=backend "
	out=$(ctl get pods -n kube-system --show-labels)
	expect_true "$M --show-labels: labels sorted, comma-separated" \
		grep -Eq 'svcdns-node-a .* k8s-app=kube-dns$' <<<"$out"

	# ---- -o custom-columns ----
	out=$(ctl get svc -n shop -o custom-columns='NAME:.metadata.name,PORTS:.spec.ports[*].port,NODEPORT:{.spec.ports[0].nodePort}')
	expect_eq "$M custom-columns: headers, values, several joined by commas, <none>" "$out" \
		"$(printf '%s\n' 'NAME            PORTS     NODEPORT' 'backend         80,9090   <none>' \
			'frontend        80        30080' 'payments-api    <none>    <none>' 'storefront-lb   443       30181')"

	# ---- namespaces in every format ----
	expect_eq "$M get namespaces -o name" "$(ctl get namespaces -o name | tr '\n' ' ')" \
		"namespace/data namespace/default namespace/kube-system namespace/shop "
	expect_eq "$M get namespace shop -o jsonpath (status.phase as kubectl shows it)" \
		"$(ctl get namespace shop -o jsonpath='{.kind} {.metadata.name} {.status.phase}')" "Namespace shop Active"

	# ---- get all, get endpointslices ----
	out=$(ctl get all -n data)
	expect_eq "$M get all: pods, then services, kind/name" \
		"$(awk '{print $1}' <<<"$out" | tr '\n' ' ')" "NAME pod/db-0 pod/db-1  NAME service/db service/legacy-db "
	out=$(ctl get endpointslices -n shop)
	expect_eq "$M get endpointslices: one per port set, as the controller makes them" \
		"$(awk 'NR > 1 {print $2, $3, $4}' <<<"$out" | tr '\n' ';')" \
		"IPv4 8080,9090 10.244.1.20;IPv4 8081,9090 10.244.2.20,10.244.2.21;IPv4 8080 10.244.1.10,10.244.2.10;IPv4 8443 10.244.1.10,10.244.2.10;"
	expect_eq "$M ... named <service>-<5 letters>" \
		"$(awk 'NR > 1 {print $1}' <<<"$out" | grep -Ec '^(backend|frontend|storefront-lb)-[bcdfghjklmnpqrstvwxz2456789]{5}$')" 4
	expect_eq "$M ... the same names each time" "$(ctl get endpointslices -n shop | awk '{print $1}')" \
		"$(awk '{print $1}' <<<"$out")"
	out=$(ctl get endpointslices -n shop -o json | "$PY" -c 'import json,sys; d=json.load(sys.stdin); i=d["items"][1]; print(i["apiVersion"], i["kind"], i["metadata"]["labels"]["kubernetes.io/service-name"], [e["conditions"]["ready"] for e in i["endpoints"]])')
	expect_eq "$M get endpointslices -o json: discovery.k8s.io/v1, not-ready endpoints kept" "$out" \
		"discovery.k8s.io/v1 EndpointSlice backend [True, False]"

	# ---- get -w: another process's change ----
	"$SVCCTL" "${SRC[@]}" get svc -n data -w >"$WORK/watch.out" 2>&1 &
	WPID=$!
	track_pid "$WPID"
	poll 10000 grep -q '^legacy-db ' "$WORK/watch.out"
	ctl expose pod db-0 -n data --port 5432 --name watched >/dev/null 2>&1
	poll 5000 grep -q '^watched ' "$WORK/watch.out"
	expect_true "$M get -w: the list, then the service another svcctl made" \
		grep -q '^watched  *ClusterIP  *10\.' "$WORK/watch.out"
	ctl delete service watched -n data >/dev/null 2>&1
	poll 5000 test "$(grep -c '^watched ' "$WORK/watch.out")" -ge 2
	expect_eq "$M get -w: ... and its row again when it is deleted" "$(grep -c '^watched ' "$WORK/watch.out")" 2
	expect_eq "$M get -w: the header once" "$(grep -c '^NAME ' "$WORK/watch.out")" 1
	stop_pid "$WPID"

	# ---- expose ----
	expect_eq "$M expose pod db-0 --port 5432 --name db0" \
		"$(ctl expose pod db-0 -n data --port 5432 --name db0 2>&1)" "service/db0 exposed"
	expect_eq "$M ... selects the pod's labels, port and targetPort" \
		"$(ctl get svc db0 -n data -o jsonpath='{.spec.selector.app} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.type} {.metadata.labels.app}')" \
		"db 5432 5432 ClusterIP db"
	expect_true "$M ... with a ClusterIP allocated" \
		grep -Eq '^10\.' <<<"$(ctl get svc db0 -n data -o jsonpath='{.spec.clusterIP}')"
	expect_eq "$M expose service backend --type NodePort --name backend2" \
		"$(ctl expose service backend -n shop --type NodePort --name backend2 2>&1)" "service/backend2 exposed"
	expect_eq "$M ... its ports copied, named targetPort kept, nodePorts allocated" \
		"$(ctl get svc backend2 -n shop -o jsonpath='{.spec.ports[*].name} {.spec.ports[0].targetPort} {.spec.type} {.spec.selector.app}')" \
		"http grpc http NodePort backend"
	expect_true "$M ... nodePorts in range" \
		grep -Eq '^3[0-2][0-9]{3} 3[0-2][0-9]{3}$' <<<"$(ctl get svc backend2 -n shop -o jsonpath='{.spec.ports[*].nodePort}')"
	expect_eq "$M expose of a pod that is not there" "$(ctl expose pod nope -n data --port 1 2>&1)" \
		'Error from server (NotFound): pods "nope" not found'
	expect_true "$M expose twice: AlreadyExists" \
		grep -q 'AlreadyExists' <<<"$(ctl expose pod db-0 -n data --port 5432 --name db0 2>&1)"

	# ---- describe ----
	out=$(ctl describe service storefront-lb -n shop)
	for line in 'Name:                     storefront-lb' 'Type:                     LoadBalancer' \
		'IP Family Policy:         SingleStack' 'Port:                     https  443/TCP' \
		'External Traffic Policy:  Local' 'Session Affinity:         None' 'Events:                   <none>'; do
		expect_true "$M describe service: '$line'" grep -qxF "$line" <<<"$out"
	done
	expect_true "$M describe service: HealthCheck NodePort" grep -Eq '^HealthCheck NodePort: +3[0-9]{4}$' <<<"$out"
	out=$(ctl describe pod backend-5c4b-a -n shop)
	for line in 'Name:             backend-5c4b-a' 'Namespace:        shop' 'Node:             node-a/<none>' \
		'Labels:           app=backend' 'Status:           Running' 'IP:               10.244.1.20' \
		'  IP:  10.244.1.20' '    Ports:          8080/TCP, 9090/TCP' '  Ready           True'; do
		expect_true "$M describe pod: '$line'" grep -qxF "$line" <<<"$out"
	done
	out=$(ctl describe endpoints backend -n shop)
	for line in 'Name:         backend' '  Addresses:          10.244.2.20' \
		'  NotReadyAddresses:  10.244.2.21' '    http  8081  TCP'; do
		expect_true "$M describe endpoints: '$line'" grep -qxF "$line" <<<"$out"
	done
	out=$(ctl describe node node-a)
	for line in 'Name:               node-a' 'Labels:             kubernetes.io/hostname=node-a' \
		'  InternalIP:  10.250.0.1' 'PodCIDR:            10.244.1.0/24' '  Ready           True'; do
		expect_true "$M describe node: '$line'" grep -qxF "$line" <<<"$out"
	done
	out=$(ctl describe pod nope -n shop 2>&1)
	expect_eq "$M describe of a pod that is not there" "$out" 'Error from server (NotFound): pods "nope" not found'
done

# A prober's findings (directory mode: a PodStatus file in the status directory).
mkdir -p "$WORK/status"
cat >"$WORK/status/node-a.yaml" <<'EOF'
apiVersion: svcdns.io/v1
kind: PodStatus
metadata: {name: backend-5c4b-a, namespace: shop}
status:
  nodeName: node-a
  conditions:
  - {type: Ready, status: "False", lastTransitionTime: "2026-12-01T04:00:00Z", message: "HTTP 503"}
EOF
out=$("$SVCCTL" --zones "$WORK/zones" --status-dir "$WORK/status" describe pod backend-5c4b-a -n shop)
expect_true "describe pod: the prober's findings" \
	grep -Eq '^  Ready +False +2026-12-01T04:00:00Z +HTTP 503$' <<<"$out"
expect_true "... and whose they are" grep -q '^Probe Results: .*node node-a' <<<"$out"

summary
