#!/usr/bin/env python3
"""Ask two DNS servers the same questions (dig -f, one batch each) and compare what comes back:
the rcode and each section's records as sets (order, TTL of the SOA serial and header flags
other than AA/TC are ignored). Prints a summary and the first differences; exits 1 if any.

usage: compare_answers.py QUERYFILE NAME_A PORT_A NAME_B PORT_B [--server 127.0.0.1] [--show N]
QUERYFILE holds "name type" lines (dnsperf format)."""
import argparse
import collections
import subprocess
import sys


def ask(server, port, qfile):
    out = subprocess.run(["dig", f"@{server}", "-p", str(port), "+norec", "+noall", "+comments",
                          "+question", "+answer", "+authority", "+additional", "+tries=2",
                          "+time=2", "+nocookie", "+bufsize=1232", "-f", qfile],
                         capture_output=True, text=True).stdout
    res, cur, section = [], None, None
    for line in out.splitlines():
        s = line.strip()
        if "->>HEADER<<-" in s:
            status = s.split("status:")[1].split(",")[0].strip()
            cur = {"rcode": status, "flags": set(), "question": None,
                   "ANSWER": set(), "AUTHORITY": set(), "ADDITIONAL": set()}
            res.append(cur)
            continue
        if cur is None or not s:
            continue
        if s.startswith(";; flags:"):
            cur["flags"] = set(s.split(":", 1)[1].split(";")[0].split())
            continue
        if s.startswith(";; ") and s.endswith("SECTION:"):
            section = s[3:].split()[0]
            continue
        if s.startswith(";"):
            if section == "QUESTION" and cur["question"] is None:
                f = s[1:].split()
                cur["question"] = (f[0].lower(), f[-1])
            continue
        f = s.split()
        if section not in ("ANSWER", "AUTHORITY", "ADDITIONAL") or len(f) < 4:
            continue
        owner, ttl, cls, typ, rdata = f[0].lower(), f[1], f[2], f[3], [x.lower() for x in f[4:]]
        if typ == "SOA" and len(rdata) == 7:
            rdata[2] = "<serial>"
        cur[section].add(" ".join([owner, ttl, cls, typ] + rdata))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qfile")
    ap.add_argument("name_a")
    ap.add_argument("port_a", type=int)
    ap.add_argument("name_b")
    ap.add_argument("port_b", type=int)
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--show", type=int, default=5)
    args = ap.parse_args()
    queries = [tuple(l.split()[:2]) for l in open(args.qfile) if l.strip()]
    a = ask(args.server, args.port_a, args.qfile)
    b = ask(args.server, args.port_b, args.qfile)
    diffs, rc = [], collections.Counter()
    for i, q in enumerate(queries):
        ra = a[i] if i < len(a) else None
        rb = b[i] if i < len(b) else None
        if ra is None or rb is None:
            diffs.append((q, "no answer from " + (args.name_a if ra is None else args.name_b)))
            continue
        rc[(ra["rcode"], rb["rcode"])] += 1
        why = []
        if ra["rcode"] != rb["rcode"]:
            why.append(f"rcode {ra['rcode']} vs {rb['rcode']}")
        for flag in ("aa", "tc"):
            if (flag in ra["flags"]) != (flag in rb["flags"]):
                why.append(f"flag {flag}: {sorted(ra['flags'])} vs {sorted(rb['flags'])}")
        for sec in ("ANSWER", "AUTHORITY", "ADDITIONAL"):
            if ra[sec] != rb[sec]:
                why.append(f"{sec}: only {args.name_a} {sorted(ra[sec] - rb[sec])}; "
                           f"only {args.name_b} {sorted(rb[sec] - ra[sec])}")
        if why:
            diffs.append((q, "; ".join(why)))
    summary = ", ".join(f"{n} {x}" + ("" if x == y else f"/{y}") for (x, y), n in sorted(rc.items()))
    print(f"compared {len(queries)} queries ({summary}): "
          f"{len(queries) - len(diffs)} identical, {len(diffs)} differ")
    for q, why in diffs[:args.show]:
        print(f"  DIFF {q[0]} {q[1]}: {why}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
