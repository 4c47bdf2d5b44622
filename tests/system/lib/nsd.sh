# Sourced by the system tests that run nsd as an upstream (not a test itself).
#
#   nsd_conf DIR ADDR@PORT ZONE=FILE...   write DIR/nsd.conf: nsd on ADDR@PORT, in the foreground
#                                         (`nsd -d -c DIR/nsd.conf`), unprivileged (no chroot, no
#                                         user change), one server, serving each ZONE from
#                                         DIR/FILE; its pid, state and log files in DIR.
nsd_conf() {
	local dir=$1 listen=$2 z
	shift 2
	{
		cat <<CONF
server:
  ip-address: $listen
  do-ip6: no
  database: ""
  pidfile: "$dir/nsd.pid"
  zonesdir: "$dir"
  xfrdfile: "$dir/xfrd.state"
  xfrdir: "$dir"
  zonelistfile: "$dir/zone.list"
  logfile: "$dir/nsd.log"
  username: ""
  chroot: ""
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
CONF
		for z in "$@"; do
			printf 'zone:\n  name: "%s"\n  zonefile: "%s"\n' "${z%%=*}" "${z#*=}"
		done
	} >"$dir/nsd.conf"
}
