#!/usr/bin/env python3
"""Write a synthetic cluster of N services (each with PODS pods) into DIR, for scale tests and
benchmarks. Namespaces ns-0..ns-(N/100), one file each (ns-K.yaml); every 10th service is headless;
pod IPs from 10.128/9; the pods of services that are not headless run on node-a. Every pod has a
Ready condition written as `status: "True"` on its own line, so a benchmark can flip it in place.

--probe adds bench-probe.yaml, namespace bench-probe, for bench/scale_bench.sh: PROBE_PODS pods
probe-0.. (app: scale-probe, node-a, containerPort 8080 named http, IPs 10.127.0.11..) behind
three services: probe and probe-watch (ClusterIP, port 80 -> http) and probe-h (headless)."""
import argparse
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--pods", type=int, default=2, help="pods per service")
    ap.add_argument("--probe", action="store_true", help="add bench-probe.yaml (see above)")
    ap.add_argument("--probe-pods", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    per_ns = 100
    pod = 0
    for ns_i in range((args.services + per_ns - 1) // per_ns):
        ns = f"ns-{ns_i}"
        docs = []
        for k in range(per_ns):
            s = ns_i * per_ns + k
            if s >= args.services:
                break
            name = f"svc-{s}"
            headless = s % 10 == 0
            spec = ["spec:"]
            if headless:
                spec.append("  clusterIP: None")
            spec += [f"  selector:", f"    app: {name}", "  ports:",
                     "  - name: http", "    port: 80", "    targetPort: 8080",
                     "  - name: grpc", "    port: 9090"]
            docs.append("\n".join(["apiVersion: v1", "kind: Service", "metadata:",
                                   f"  name: {name}", f"  namespace: {ns}"] + spec))
            for p in range(args.pods):
                ip = 0x0A800000 + pod
                pod += 1
                docs.append("\n".join([
                    "apiVersion: v1", "kind: Pod", "metadata:", f"  name: {name}-{p}",
                    f"  namespace: {ns}", "  labels:", f"    app: {name}", "spec:",
                    f"  hostname: {name}-{p}" if headless else "  nodeName: node-a",
                    f"  subdomain: {name}" if headless else "  containers: []",
                    "status:", "  phase: Running",
                    f"  podIP: {ip >> 24 & 255}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}",
                    "  conditions:", "  - type: Ready", '    status: "True"']))
        with open(os.path.join(args.dir, f"{ns}.yaml"), "w") as f:
            f.write("\n---\n".join(docs) + "\n")
    if args.probe:
        write_probe(args.dir, args.probe_pods)


def write_probe(d, n):
    docs = []
    for name, headless in (("probe", False), ("probe-watch", False), ("probe-h", True)):
        docs.append("\n".join(["apiVersion: v1", "kind: Service", "metadata:", f"  name: {name}",
                               "  namespace: bench-probe", "spec:"]
                              + (["  clusterIP: None"] if headless else [])
                              + ["  selector:", "    app: scale-probe", "  ports:",
                                 "  - name: http", "    port: 80", "    targetPort: http"]))
    for p in range(n):
        docs.append("\n".join([
            "apiVersion: v1", "kind: Pod", "metadata:", f"  name: probe-{p}",
            "  namespace: bench-probe", "  labels:", "    app: scale-probe", "spec:",
            "  nodeName: node-a", "  containers:", "  - name: c", "    ports:",
            "    - name: http", "      containerPort: 8080", "status:", "  phase: Running",
            f"  podIP: 10.127.0.{11 + p}", "  conditions:", "  - type: Ready",
            '    status: "True"']))
    with open(os.path.join(d, "bench-probe.yaml"), "w") as f:
        f.write("\n---\n".join(docs) + "\n")


if __name__ == "__main__":
    main()
