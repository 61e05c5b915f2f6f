"""Load test of the studio's server: many concurrent clients mixing uploads, generations and downloads.

    python scripts/bench_studio_load.py [--clients 50] [--rounds 2] [--out benchmarks/studio_load.json]

Starts ``omnimogen serve`` (the shipped model) on a free loopback port, then runs ``--rounds`` rounds in
which ``--clients`` clients at once each upload a real take, ask for a 2-second motion and download
the answer (or the upload, when the generation was refused as busy) as BVH. Every request has a
timeout; the whole run is bounded. Reported: requests and answers by status, errors other than a clear
"busy" (429 with Retry-After), p50/p95 latency per kind, and the server's resident memory before,
after each round (a leak grows round after round) and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np

TAKE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bandai" / "dataset-1_walk_normal_001.bvh.gz"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def client(http: httpx.AsyncClient, k: int, log: list) -> None:
    async def call(kind: str, method: str, url: str, **kw):
        t = time.perf_counter()
        try:
            r = await http.request(method, url, **kw)
            log.append((kind, r.status_code, time.perf_counter() - t, r.headers.get("retry-after")))
            return r
        except httpx.HTTPError as e:
            log.append((kind, type(e).__name__, time.perf_counter() - t, None))
            return None

    up = await call("upload", "POST", "/api/motions", files={"file": (TAKE.name, TAKE.read_bytes())})
    gen = await call("generate", "POST", "/api/generate", json={"instruction": "a person walks forward", "seconds": 2,
                                                                "seed": k})  # fmt: skip
    target = None
    if gen is not None and gen.status_code == 200:
        target = gen.json()["motions"][0]["id"]
    elif up is not None and up.status_code == 200:
        target = up.json()["id"]
    if target:
        await call("download", "GET", f"/api/motions/{target}?format=bvh")


async def run(base: str, clients: int, rounds: int, pid: int) -> dict:
    log, memory = [], {"before_mb": rss_mb(pid), "after_round_mb": []}
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for _ in range(rounds):
            await asyncio.gather(*(client(http, k, log) for k in range(clients)))
            memory["after_round_mb"].append(rss_mb(pid))
    by_kind = defaultdict(list)
    for kind, status, seconds, _ in log:
        by_kind[kind].append((status, seconds))
    out = {"requests": len(log), "status": dict(Counter(str(s) for _, s, _, _ in log)),
           "busy_without_retry_after": sum(1 for _, s, _, ra in log if s == 429 and not ra),
           "errors_other_than_busy": sum(1 for _, s, _, _ in log if s not in (200, 429)),
           "latency_s": {k: {"p50": float(np.percentile([t for s, t in v if s == 200] or [np.nan], 50)),
                             "p95": float(np.percentile([t for s, t in v if s == 200] or [np.nan], 95)),
                             "answered": sum(1 for s, _ in v if s == 200), "busy": sum(1 for s, _ in v if s == 429)}
                         for k, v in by_kind.items()}, "memory": memory}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/studio_load.json")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "omnimogen", "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        httpx.post(f"{base}/api/generate", json={"instruction": "a person walks", "seconds": 1}, timeout=120)  # load it
        start = time.perf_counter()
        out = asyncio.run(run(base, args.clients, args.rounds, server.pid))
        out["seconds"] = round(time.perf_counter() - start, 1)
        out["memory"]["end_mb"] = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(10)
    doc = {"what": __doc__.split("\n\n")[1].strip(), "date": datetime.date.today().isoformat(),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
           "clients": args.clients, "rounds": args.rounds,
           "command": f"python scripts/bench_studio_load.py --clients {args.clients} --rounds {args.rounds}", **out}  # fmt: skip
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
