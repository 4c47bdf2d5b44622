#!/usr/bin/env bash
# UDP flows of request/response protocols end when answered (--udp-answer-ports, default 53), so
# lookups through a DNS ClusterIP, each from a fresh source port as glibc makes them, never
# exhaust svcfwd's descriptors: with a limit of 256 descriptors, 3,000 lookups from 3,000
# source ports are all answered and leave no flow behind. The descriptor budget (one for
# listeners, connections and UDP sockets, derived from the limit) is in /metrics, and UDP flows
# share the sockets they send from: a socket carries one flow per endpoint, so flows to one
# endpoint need a socket each while they last. With --udp-answer-ports none the lookups' flows
# last until the idle timeout, the UDP share of the budget runs out, and further lookups are
# refused and counted, never a descriptor over the budget.
. "$(dirname "$0")/lib/common.sh"
need_netns
need_programs svcfwd
need_tools curl prlimit python3
FWD_TAG=ua$$
# shellcheck source=lib/fwdnet.sh
. "$T_LIB/fwdnet.sh"
at_exit fwdnet_down

VIP=10.96.53.53
Z=$WORK/zones
mkdir -p "$Z/dns"
cat >"$Z/dns/svc.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: resolver, namespace: dns}
spec:
  clusterIP: $VIP
  selector: {app: resolver}
  ports:
  - {name: dns, port: 53, targetPort: 5300, protocol: UDP}
  - {name: other, port: 5353, targetPort: 5300, protocol: UDP}
EOF
yaml_pod resolver-a dns node-a 10.244.1.53 True app=resolver dns:5300/UDP >"$Z/dns/pod.yaml"
fwdnet_up "10.244.1.53" "" || exit 1
pod_start resolver-a "$P1" 10.244.1.53 --udp 5300
pod_wait resolver-a || exit 1

FWD_PID=
start_fwd() { # [svcfwd options...]
	ip netns exec "$N1" prlimit --nofile=256:256 "$SVCFWD" --zones "$Z" --node node-a \
		--http 127.0.0.1:9154 "$@" >"$WORK/svcfwd.log" 2>&1 &
	FWD_PID=$!
	track_pid "$FWD_PID"
	poll 20000 in_n1 curl -fs -m 1 -o /dev/null http://127.0.0.1:9154/ready
}
metric() { in_n1 curl -fs -m 3 http://127.0.0.1:9154/metrics | awk -v k="$1" '$1 == k {print $2}'; }
# N lookups to VIP:PORT, each from a new socket (a new source port), a few at a time: how many
# were answered.
lookups() { # N PORT
	in_p1 "$PY" - "$VIP" "$2" "$1" <<'EOF'
import selectors, socket, sys, time
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok = 0
for i in range(0, n, 50):
    sel = selectors.DefaultSelector()
    for k in range(min(50, n - i)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.sendto(b"q%d" % (i + k), (vip, port))
        sel.register(s, selectors.EVENT_READ)
    # The batch's answers within a second, all sockets at once.
    end = time.monotonic() + 1
    while sel.get_map() and time.monotonic() < end:
        for key, _ in sel.select(end - time.monotonic()):
            try:
                if key.fileobj.recv(2000).startswith(b"pod=resolver-a"):
                    ok += 1
            except OSError:
                pass
            sel.unregister(key.fileobj)
            key.fileobj.close()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
print(ok)
EOF
}

start_fwd || {
	tail -20 "$WORK/svcfwd.log" >&2
	exit 1
}
expect_eq "3,000 lookups from 3,000 source ports, 256 descriptors: all answered" "$(lookups 3000 53)" 3000
expect_eq "... and no flow left open" "$(metric svcfwd_udp_flows)" 0
expect_true "... each ended by its answer ($(metric svcfwd_udp_flows_answered_total))" \
	[ "$(metric svcfwd_udp_flows_answered_total)" -ge 3000 ]
expect_eq "the budget is the limit less a quarter, in /metrics" "$(metric svcfwd_fd_limit) $(metric svcfwd_fd_budget)" "256 192"
udp_share=$(metric 'svcfwd_fd_share{kind="udp"}')
udp_sockets=$(metric svcfwd_udp_sockets)
expect_true "flows share their sockets: $udp_sockets for 50 lookups at a time, within the UDP share ($udp_share)" \
	[ "${udp_sockets:-999}" -ge 1 -a "${udp_sockets:-999}" -le "${udp_share:-0}" ]
expect_eq "... and the budget counts them, with the reply socket of the ClusterIP's port" \
	"$(metric 'svcfwd_fd_used{kind="udp"}')" "$((udp_sockets + $(metric svcfwd_udp_reply_sockets)))"
expect_eq "another UDP port keeps its flows (idle timeout)" "$(lookups 20 5353)" 20
expect_eq "... 20 of them" "$(metric svcfwd_udp_flows)" 20
stop_pid "$FWD_PID"

start_fwd --udp-answer-ports none || exit 1
got=$(lookups 1000 53)
share=$(metric 'svcfwd_fd_share{kind="udp"}')
expect_true "--udp-answer-ports none: flows to the one endpoint last, the UDP share ($share sockets) turns lookups away ($got of 1000 answered)" \
	[ "$got" -lt 1000 -a "$got" -ge $((share - 2)) ]
refused=$(metric svcfwd_udp_flows_refused_total)
expect_true "... counted: $refused flows refused, $(metric 'svcfwd_fd_refused_total{kind="udp"}') descriptors refused by the budget" \
	[ "${refused:-0}" -ge $((1000 - got)) -a "$(metric 'svcfwd_fd_refused_total{kind="udp"}')" -ge 1 ]
expect_true "... never over the share ($(metric 'svcfwd_fd_used{kind="udp"}') held), never out of descriptors" \
	[ "$(metric 'svcfwd_fd_used{kind="udp"}')" -le "$share" ] && ! grep -q "Too many open files" "$WORK/svcfwd.log"
stop_pid "$FWD_PID"

summary
