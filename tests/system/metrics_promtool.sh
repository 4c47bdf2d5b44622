#!/usr/bin/env bash
# Both daemons' /metrics after real traffic pass Prometheus's own linter (`promtool check
# metrics`), carry CoreDNS's DNS metric names and labels under the svcdns_ prefix and the
# standard process_* metrics, and every metric the Grafana dashboards of packaging/grafana/ ask
# for is there:
#   - svcdns on loopback, asked over UDP and TCP: names of the cluster, NXDOMAIN, AAAA, a name
#     upstream (none answers: SERVFAIL), a refused transfer;
#   - svcfwd on node-a of the lib/fwdnet.sh namespaces, with curl to a ClusterIP and a UDP
#     round trip through another.
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcdns svcfwd
need_tools promtool curl dig kdig python3
FWD_TAG=pm$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down
P_DNS=$(pick_port)
P_HTTP=$(pick_port)
DASH=$SVC_SOURCE_DIR/packaging/grafana

# Every metric name a dashboard's queries use (svcdns_..., svcfwd_..., process_...).
dashboard_metrics() {
	"$PY" - "$1" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
names = set()
for p in d["panels"]:
    for t in p.get("targets", []):
        names.update(re.findall(r"\b((?:svcdns|svcfwd|process)_[a-z_]+)", t["expr"]))
print("\n".join(sorted(names)))
EOF
}
# Check FILE (a /metrics text) with promtool, and that it has every metric of DASHBOARD.
check_metrics() { # WHO FILE DASHBOARD
	local who=$1 file=$2 dash=$3 out missing=() m
	out=$(promtool check metrics <"$file" 2>&1)
	expect_eq "$who: promtool check metrics finds nothing" "$out" ""
	for m in $(dashboard_metrics "$dash"); do
		grep -Eq "^$m(\{| )" "$file" || missing+=("$m")
	done
	expect_eq "$who: every metric of $(basename "$dash") is exported ($(dashboard_metrics "$dash" | wc -l) of them)" \
		"${missing[*]}" ""
}

# ---- svcdns ---------------------------------------------------------------------------------------

"$SVCDNS" --zones "$ZONES_SRC" --listen "127.0.0.1:$P_DNS" --upstream 127.0.0.1:9 --threads 1 \
	--upstream-timeout 300 --http "127.0.0.1:$P_HTTP" >"$WORK/svcdns.log" 2>&1 &
track_pid "$!"
poll 10000 curl -fs -m 1 -o /dev/null "http://127.0.0.1:$P_HTTP/ready" || {
	cat "$WORK/svcdns.log" >&2
	exit 1
}
for tr in +notcp +tcp; do
	dig @127.0.0.1 -p "$P_DNS" "$tr" +short backend.shop.svc.cluster.local A >/dev/null
	dig @127.0.0.1 -p "$P_DNS" "$tr" +short backend.shop.svc.cluster.local AAAA >/dev/null
	dig @127.0.0.1 -p "$P_DNS" "$tr" +short _http._tcp.backend.shop.svc.cluster.local SRV >/dev/null
	dig @127.0.0.1 -p "$P_DNS" "$tr" +short nope.shop.svc.cluster.local A >/dev/null
	dig @127.0.0.1 -p "$P_DNS" "$tr" +short +time=2 www.example.org A >/dev/null
done
kdig @127.0.0.1 -p "$P_DNS" +timeout=2 cluster.local AXFR >/dev/null 2>&1
curl -fs "http://127.0.0.1:$P_HTTP/metrics" >"$WORK/svcdns.metrics"
check_metrics svcdns "$WORK/svcdns.metrics" "$DASH/svcdns.json"
expect_true "svcdns: CoreDNS's labels on svcdns_dns_requests_total" grep -Eq \
	"^svcdns_dns_requests_total\{server=\"dns://127.0.0.1:$P_DNS\",zone=\".\",proto=\"tcp\",family=\"1\",type=\"SRV\"\} 1$" \
	"$WORK/svcdns.metrics"
expect_true "svcdns: ... on svcdns_dns_responses_total" grep -Eq \
	'^svcdns_dns_responses_total\{server="[^"]+",zone=".",rcode="NXDOMAIN"\} 2$' "$WORK/svcdns.metrics"
expect_true "svcdns: ... and on the latency histogram, by type" grep -Eq \
	'^svcdns_dns_request_duration_seconds_count\{server="[^"]+",zone=".",type="AAAA"\} 2$' "$WORK/svcdns.metrics"
expect_true "svcdns: process_open_fds" grep -Eq '^process_open_fds [1-9][0-9]*$' "$WORK/svcdns.metrics"

# ---- svcfwd ---------------------------------------------------------------------------------------

fwdnet_up "10.244.1.20 10.244.1.30" "" || exit 1
pod_start backend-5c4b-a "$P1" 10.244.1.20 --http 8080,9090
pod_start db-0 "$P1" 10.244.1.30 --echo 5432
pod_wait backend-5c4b-a db-0 || exit 1
ip netns exec "$N1" "$SVCFWD" --zones "$ZONES_SRC" --node node-a --http 127.0.0.1:9154 \
	>"$WORK/svcfwd.log" 2>&1 &
FWD_PIDS+=("$!")
poll 20000 in_n1 curl -fs -m 1 -o /dev/null http://127.0.0.1:9154/ready || {
	tail -20 "$WORK/svcfwd.log" >&2
	exit 1
}
for i in 1 2 3; do in_p1 curl -s -m 3 -o /dev/null http://10.106.35.83/; done
in_p1 curl -s -m 3 -o /dev/null http://10.106.35.83:9090/
in_n1 curl -fs -m 3 http://127.0.0.1:9154/metrics >"$WORK/svcfwd.metrics"
check_metrics svcfwd "$WORK/svcfwd.metrics" "$DASH/svcfwd.json"
expect_true "svcfwd: the requests are counted" grep -Eq \
	'^svcfwd_service_connections_total\{namespace="shop",service="backend",port="http",[^}]*\} [3-9]' \
	"$WORK/svcfwd.metrics"
expect_true "svcfwd: process_max_fds" grep -Eq '^process_max_fds [1-9][0-9]*$' "$WORK/svcfwd.metrics"

summary
