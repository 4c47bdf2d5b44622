#!/usr/bin/env python3
"""Write the cluster DNS records svcdns serves as RFC 1035 zone files (for Knot, NSD, ...), and a
dnsperf query file, from the cluster model as `svcctl get services|endpoints -A -o yaml` prints
it (so ClusterIPs are the ones svcctl/svcdns allocate). Nothing here asks svcdns.

Records follow dns/dnsz.c (the Kubernetes DNS schema, CoreDNS "pods insecure" aside):
  <zone>                      SOA, NS ns.dns.<zone>;  ns.dns.<zone> A NS_ADDR;  dns-version TXT
  <svc>.<ns>.svc.<zone>       A ClusterIPs, or the ready endpoints' IPs when headless
                              SRV for every port (weight 100 / entries), targets with their A
  _<port>._<proto>.<svc>...   SRV for each named port
  <host>.<svc>.<ns>.svc...    A of ready endpoints with that hostname, else <dashed-ip>.<svc>...
  in-addr.arpa                PTR for ClusterIPs (to the service), else for endpoint names
Pod names (<dashed-ip>.<ns>.pod.<zone>) are synthesised by svcdns for any address, so they are
neither written nor queried.

usage: zone_from_cluster.py --svcctl BIN --zones DIR --out DIR [--domain cluster.local]
writes OUT/<domain>.zone, OUT/in-addr.arpa.zone, OUT/queries.txt (shuffled, dnsperf format),
OUT/check.txt (a sample of the queries, one of each kind first, for comparing answers)."""
import argparse
import ipaddress
import os
import random
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import yaml

try:
    Loader = yaml.CBaseLoader  # plain strings, libyaml: ~3x faster than SafeLoader
except AttributeError:
    Loader = yaml.BaseLoader

TTL = 5
VERSION_TTL = 28800


def load(args):
    svcctl, zones, kind = args
    out = subprocess.run([svcctl, "--zones", zones, "get", kind, "-A", "-o", "yaml"],
                         check=True, capture_output=True).stdout
    return yaml.load(out, Loader=Loader).get("items") or []


def fqdn(*labels):
    return ".".join(labels).lower() + "."


def dashed(ip):
    s = str(ip).replace(".", "-").replace(":", "-")
    if s.endswith("-"):
        s += "0"
    if s.startswith("-"):
        s = "0" + s
    return s


def reverse(ip):
    return ipaddress.ip_address(ip).reverse_pointer + "."


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--svcctl", required=True)
    ap.add_argument("--zones", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--domain", default="cluster.local")
    ap.add_argument("--ns-addr", default="127.0.0.1", help="address of ns.dns.<domain>")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", type=int, default=400, help="queries in check.txt")
    args = ap.parse_args()
    dom = args.domain.rstrip(".").lower()

    with ProcessPoolExecutor(2) as ex:
        services, endpoints = ex.map(load, [(args.svcctl, args.zones, "services"),
                                            (args.svcctl, args.zones, "endpoints")])
    eps = {(e["metadata"].get("namespace", "default"), e["metadata"]["name"]): e
           for e in endpoints}

    fwd = []          # (owner, type, rdata, ttl)
    ptr_cluster = {}  # ip -> owner (ClusterIP PTRs win)
    ptr_ep = {}       # ip -> set of endpoint names
    q = {k: [] for k in ("A svc", "A endpoint", "SRV port", "SRV svc", "PTR clusterIP",
                         "PTR endpoint", "NXDOMAIN", "NODATA AAAA")}

    apex = dom + "."
    ns_host = fqdn("ns", "dns", dom)
    for owner_type_rdata in [(apex, "SOA", f"{ns_host} hostmaster.{apex} 1 7200 1800 86400 {TTL}"),
                             (apex, "NS", ns_host), (ns_host, "A", args.ns_addr)]:
        fwd.append(owner_type_rdata + (TTL,))
    fwd.append((fqdn("dns-version", dom), "TXT", '"1.1.0"', VERSION_TTL))

    for s in services:
        md, spec = s["metadata"], s.get("spec") or {}
        ns, name = md.get("namespace", "default"), md["name"]
        stype = spec.get("type", "ClusterIP")
        svc = fqdn(name, ns, "svc", dom)
        if stype == "ExternalName":
            ext = spec.get("externalName")
            try:
                ipaddress.ip_address(ext)
                continue
            except (TypeError, ValueError):
                pass
            if ext:
                fwd.append((svc, "CNAME", ext.rstrip(".") + ".", TTL))
            continue
        cips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")])
                if ip and ip != "None"]
        headless = spec.get("clusterIP") == "None" or not cips
        ports = spec.get("ports") or []
        # Endpoints flattened: (ip, hostname, ready, {port name: (port, proto)})
        flat = []
        for sub in (eps.get((ns, name)) or {}).get("subsets") or []:
            sp = {p.get("name", ""): (int(p["port"]), p.get("protocol", "TCP"))
                  for p in sub.get("ports") or []}
            for a in sub.get("addresses") or []:
                flat.append((a["ip"], a.get("hostname"), True, sp))
            for a in sub.get("notReadyAddresses") or []:
                flat.append((a["ip"], a.get("hostname"), False, sp))
        ready = [e for e in flat if e[2]]
        if headless and not ready:
            continue  # no ready endpoints: the headless service does not exist in DNS
        # endpoint names and their A records
        ep_name = []
        names_addrs = {}
        for ip, host, ok, _ in flat:
            n = fqdn(host, svc[:-1]) if host else fqdn(dashed(ip), svc[:-1])
            ep_name.append(n if ok else None)
            if ok:
                names_addrs.setdefault(n, [])
                if ip not in names_addrs[n]:
                    names_addrs[n].append(ip)
        for n, ips in names_addrs.items():
            for ip in ips:
                fwd.append((n, "A" if ":" not in ip else "AAAA", ip, TTL))
            # as dnsz.c: a PTR for the first endpoint with each name only
            ptr_ep.setdefault(ips[0], set()).add(n)
        addrs = sorted({e[0] for e in ready}) if headless else cips
        for ip in addrs:
            fwd.append((svc, "A" if ":" not in ip else "AAAA", ip, TTL))
        if not headless:
            for ip in cips:
                ptr_cluster.setdefault(ip, svc)

        def srv_entries(only):
            out = []
            for p in ports:
                if only is not None and p is not only:
                    continue
                if not headless:
                    out += [(int(p["port"]), svc, ip) for ip in cips]
                    continue
                for i, (ip, host, ok, sp) in enumerate(flat):
                    if ep_name[i] is None:
                        continue
                    got = sp.get(p.get("name", ""))
                    if got is None and len(sp) == 1 and len(ports) == 1:
                        got = next(iter(sp.values()))
                    if got and got[0] > 0:
                        out.append((got[0], ep_name[i], ip))
            return out

        for only in [None] + [p for p in ports if p.get("name")]:
            e = srv_entries(only)
            if not e:
                continue
            owner = svc if only is None else fqdn(
                "_" + only["name"], "_" + only.get("protocol", "TCP").lower(), svc[:-1])
            w = max(100 // len(e), 1)
            for port, target, _ in e:
                fwd.append((owner, "SRV", f"0 {w} {port} {target}", TTL))
            if only is None:
                q["SRV svc"].append((owner, "SRV"))
            else:
                q["SRV port"].append((owner, "SRV"))
        q["A svc"].append((svc, "A"))
        q["A endpoint"] += [(n, "A") for n in names_addrs]
        q["PTR clusterIP"] += [(reverse(ip), "PTR") for ip in cips]
        q["PTR endpoint"] += [(reverse(e[0]), "PTR") for e in ready]
        q["NXDOMAIN"].append((fqdn(name + "-gone", ns, "svc", dom), "A"))
        q["NXDOMAIN"].append((fqdn("nohost", svc[:-1]), "A"))
        q["NODATA AAAA"].append((svc, "AAAA"))

    rev = [("in-addr.arpa.", "SOA", f"{ns_host} hostmaster.{apex} 1 7200 1800 86400 {TTL}", TTL),
           ("in-addr.arpa.", "NS", ns_host, TTL)]
    for ip, owner in ptr_cluster.items():
        rev.append((reverse(ip), "PTR", owner, TTL))
    for ip, names in ptr_ep.items():
        if ip in ptr_cluster:
            continue
        for n in sorted(names):
            rev.append((reverse(ip), "PTR", n, TTL))

    os.makedirs(args.out, exist_ok=True)

    def write_zone(path, origin, recs):
        seen = set()
        with open(path, "w") as f:
            f.write(f"$ORIGIN {origin}\n")
            for owner, typ, rdata, ttl in recs:
                if (owner, typ, rdata) in seen:
                    continue
                seen.add((owner, typ, rdata))
                f.write(f"{owner} {ttl} IN {typ} {rdata}\n")
        return len(seen)

    n_fwd = write_zone(os.path.join(args.out, dom + ".zone"), apex, fwd)
    rev_v4 = [r for r in rev if r[0].endswith(".in-addr.arpa.") or r[0] == "in-addr.arpa."]
    n_rev = write_zone(os.path.join(args.out, "in-addr.arpa.zone"), "in-addr.arpa.", rev_v4)

    # Query mix: every service's A and _port SRV, half the bare SRVs, a quarter of the endpoint
    # names, half the ClusterIP PTRs, a quarter of the endpoint PTRs, NXDOMAINs and NODATAs.
    rnd = random.Random(args.seed)
    take = {"A svc": 1.0, "SRV port": 0.5, "SRV svc": 0.5, "A endpoint": 0.25,
            "PTR clusterIP": 0.5, "PTR endpoint": 0.25, "NXDOMAIN": 0.25, "NODATA AAAA": 0.1}
    mix, counts = [], {}
    for k, frac in take.items():
        pick = [x for x in q[k] if rnd.random() < frac]
        counts[k] = len(pick)
        mix += pick
    rnd.shuffle(mix)
    with open(os.path.join(args.out, "queries.txt"), "w") as f:
        for name, typ in mix:
            f.write(f"{name} {typ}\n")
    # check.txt: a few of every kind first, then a random sample
    check = []
    for k in take:
        check += q[k][:3] + rnd.sample(q[k], min(len(q[k]), 3))
    check += rnd.sample(mix, min(len(mix), max(args.check - len(check), 0)))
    with open(os.path.join(args.out, "check.txt"), "w") as f:
        for name, typ in check:
            f.write(f"{name} {typ}\n")
    total = len(mix)
    print(f"zone {dom}: {n_fwd} records; in-addr.arpa: {n_rev} records; "
          f"{len(services)} services", file=sys.stderr)
    print("query mix: " + ", ".join(f"{k} {100.0 * v / total:.0f}%" for k, v in counts.items())
          + f" ({total} queries)", file=sys.stderr)


if __name__ == "__main__":
    main()
