"""Benchmark (not a test): how many requests/s the harness's Locust load generator can produce,
side by side with wrk against the same trivial local endpoint, in the same run.

Flow: start tests/load/fast_server.py (asyncio, ~100k req/s: not the bottleneck) on 127.0.0.1;
for 1 and 2 generator processes: run the harness's engine closed-loop at full speed
(harness.load.run_load, `workers` = processes, 64 users per process, no think time), then wrk
with as many threads and the same connections and POST body; print requests/s, requests/s per
generator process, and the ratio to wrk; write the numbers as JSON. Every run is bounded by
--duration; every process is stopped by its process group.

    .venv/bin/python benchmarks/load_generator_capacity.py [--duration 5] [--out capacity.json]

wrk: `apt-get install -y wrk` (Debian). Without it the Locust figures are still printed.
Numbers depend on the machine (2 shared cores here: the server, wrk and Locust share them).
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.load.runner import run_load  # noqa: E402
from harness.load.spec import LoadSpec  # noqa: E402
from harness.procs import ProcessGroup, run  # noqa: E402
from harness.endpoint import Endpoint  # noqa: E402
from harness.waits import free_port, wait_until  # noqa: E402

BODY = b'{"instances": [[1.0, 2.0, 3.0, 4.0]]}'
USERS_PER_PROCESS = 64


def _wrk_rps(url: str, threads: int, connections: int, duration: float, tmp: Path) -> float:
    script = tmp / "post.lua"
    script.write_text('wrk.method = "POST"\n'
                      f"wrk.body = '{BODY.decode()}'\n"
                      'wrk.headers["Content-Type"] = "application/json"\n')
    out = run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s", "-s", str(script), url],
              what="wrk", timeout=duration + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{out}")
    return float(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="generator process counts")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lg-capacity-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = ProcessGroup([sys.executable, str(ROOT / "tests/load/fast_server.py"), "--port", str(port)],
                          name="fast server", log_path=tmp / "server.log").start()
    has_wrk = shutil.which("wrk") is not None
    rows = []
    try:
        def up():
            try:
                return httpx.post(f"{base}/v1/models/m:predict", content=BODY, timeout=1).status_code == 200 or None
            except httpx.HTTPError:
                return None

        wait_until(up, what="fast server answering", where=base, timeout_s=15)
        endpoint = Endpoint(base_url=base, model_name="m", protocol="v1")
        for n in args.processes:
            users = USERS_PER_PROCESS * n
            spec = LoadSpec(mode="closed", users=users, duration_s=args.duration, warmup_s=1.0, workers=n,
                            timeout_s=10)
            t = time.monotonic()
            result = run_load(spec, endpoint, [BODY], tmp / f"locust-{n}")
            step = result.steps[0]
            locust_rps = step.client.throughput_rps
            row = {
                "processes": n, "connections": users,
                "locust_rps": round(locust_rps, 1), "locust_rps_per_process": round(locust_rps / n, 1),
                "locust_errors": step.client.errors,
                "locust_cpu_percent": [p.cpu_percent for p in step.generator.processes],
                "locust_p50_ms": step.client.latency_ms.p50, "locust_wall_s": round(time.monotonic() - t, 1),
            }
            if has_wrk:
                wrk = _wrk_rps(f"{base}{endpoint.predict_path}", n, users, args.duration, tmp)
                row.update({"wrk_rps": round(wrk, 1), "ratio_to_wrk": round(locust_rps / wrk, 4)})
            rows.append(row)
    finally:
        server.stop()

    print(f"\nload generator capacity, {args.duration:g} s per run, {platform.node()} "
          f"({__import__('os').cpu_count()} CPUs), trivial endpoint on 127.0.0.1")
    print(f"{'procs':>5} {'conns':>5} {'locust req/s':>13} {'per process':>12} {'wrk req/s':>10} {'ratio':>7}")
    for r in rows:
        print(f"{r['processes']:>5} {r['connections']:>5} {r['locust_rps']:>13.0f} {r['locust_rps_per_process']:>12.0f} "
              f"{r.get('wrk_rps', float('nan')):>10.0f} {r.get('ratio_to_wrk', float('nan')):>7.3f}")
    if not has_wrk:
        print("wrk not found: apt-get install -y wrk to compare")
    doc = {"duration_s": args.duration, "users_per_process": USERS_PER_PROCESS, "rows": rows,
           "machine": {"node": platform.node(), "cpus": __import__("os").cpu_count()}}
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
