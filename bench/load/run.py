"""Mixed load against a running platform: throughput, p50/p99, 5xx and lost writes.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/load/run.py                     # 1 and 2 web processes, 2 min each
    python bench/load/run.py --web-workers 1,2,4 --duration 60 --backend embedded
    python bench/load/run.py --url http://127.0.0.1:8000 --key <admin key>   # a platform you started

Without `--url`, for each N in `--web-workers` it starts `manage.py runplatform --web-workers N`
(web processes, Celery workers and a SuperLink, as the issue's baseline) in a temporary var
directory: on a PostgreSQL and a Redis of its own (`--backend services`, the default; the
servers of tests/support/throwaway.py) or on the embedded default (`--backend embedded`, SQLite).
It registers a region and a TorchScript model to infer with, then `--concurrency` (16) clients
send requests for `--duration` seconds, each picking at random (seeded) by weight:

- lists (40%): models, federation applications, training executions, regions;
- creates (20%): a model or a federation application, each with an `Idempotency-Key`
  (`--no-idempotency-key` to leave it out); each write acknowledged (201) is remembered;
- events (20%): the event history, the last 20;
- OIP v2 infer (20%): one row through `POST /v2/models/mlp/infer` (JSON).

Then every acknowledged write is read back by id: one not found is a lost write.
Reported per run: requests, throughput, p50/p99 latency (all, and per kind), statuses, 5xx,
transport errors and lost writes. The client runs on the same machine as the server.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
FEATURES = 32
KINDS = (("list", 40), ("create", 20), ("events", 20), ("infer", 20))
LISTS = ("/api/v1/models?limit=20", "/api/v1/federation/applications?limit=20", "/api/v1/fl/executions?limit=20",
         "/api/v1/regions")


def model_bytes() -> bytes:
    import torch
    from torch import nn

    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 1)).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


class Platform:
    """`manage.py runplatform --web-workers N` in a var directory of its own."""

    def __init__(self, web_workers: int, backend: str) -> None:
        from tests.support.processes import free_port

        self.root = Path(tempfile.mkdtemp(prefix="fedplane-bench-load-"))
        self.port, self.services = free_port(), []
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
        if backend == "services":
            from tests.support.throwaway import Postgres, Redis

            postgres, redis = Postgres().start(), Redis().start()
            self.services = [postgres, redis]
            env.update({"DATABASE_URL": postgres.url, "REDIS_URL": f"{redis.url}/0",
                        "CELERY_BROKER_URL": f"{redis.url}/1"})
        env.update({"FEDPLANE_VAR_DIR": str(self.root), "FEDPLANE_REGION": "load-1", "LOG_LEVEL": "WARNING",
                    "FLOWER_SUPERLINK_ADDRESS": f"127.0.0.1:{free_port()}", "PYTHONUNBUFFERED": "1",
                    "FEDPLANE_RATE_LIMIT_DEFAULT": "1000000000", "FEDPLANE_RATE_LIMIT_PREDICT": "1000000000",
                    "FEDPLANE_RATE_LIMIT_TRAINING": "1000000000", "FEDPLANE_RATE_LIMIT_DEPLOYMENT": "1000000000"})
        self.env, self.web_workers = env, web_workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        log = open(self.root / "runplatform.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "manage.py", "runplatform", "--port", str(self.port),
                                      "--web-workers", str(self.web_workers), "--concurrency", "1"],
                                     cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 300
        while "fedplane is up" not in (self.root / "runplatform.log").read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"runplatform did not start; see {self.root / 'runplatform.log'}")
            time.sleep(0.5)
        while True:  # the web processes answer a little after the platform says it is up
            try:
                if httpx.get(f"{self.url}/livez", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("web server did not answer /livez")
            time.sleep(0.2)
        return subprocess.run([sys.executable, "manage.py", "createadmin", "--quiet-key"], cwd=REPO, env=self.env,
                              check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]

    def stop(self, keep: bool = False) -> None:
        """Stop everything; remove the var directory unless `keep` (its logs explain a failed run)."""
        import psutil

        if self.proc is not None and self.proc.poll() is None:
            family = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            for child in family:  # each child leads a process group of its own
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
        for service in self.services:
            service.close()
        if keep:
            print(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def prepare(url: str, key: str) -> None:
    """What the load needs: a region this server serves, a model to infer with."""
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as http:
        for method, path, body in (("POST", "/api/v1/regions", {"name": "load-1"}),
                                   ("POST", "/api/v1/models", {"model_id": "mlp"}),
                                   ("POST", "/api/v1/models/mlp/versions",
                                    {"version": "1.0.0", "format": "torchscript", "region": "load-1",
                                     "input_schema": {"shape": [-1, FEATURES], "dtype": "float32"}})):
            response = http.request(method, path, json=body)
            if response.status_code not in (201, 409):
                raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:300]}")
        if not http.get("/api/v1/models/mlp/versions/1.0.0").json()["data"]["sha256"]:
            response = http.put("/api/v1/models/mlp/versions/1.0.0/artifact", content=model_bytes(),
                                headers={"Content-Type": "application/octet-stream"})
            assert response.status_code == 200, response.text


class Load:
    def __init__(self, url: str, key: str, idempotency: bool, seed: int) -> None:
        self.url, self.key, self.idempotency = url, key, idempotency
        self.rng = random.Random(seed)
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter = Counter()
        self.errors: Counter = Counter()
        self.acknowledged: list[str] = []  # paths of the writes answered 201
        self.infer_body = json.dumps({"inputs": [{"name": "input", "shape": [1, FEATURES], "datatype": "FP32",
                                                  "data": [0.1] * FEATURES}]})

    def _create(self) -> tuple[str, str, dict]:
        name = f"load-{uuid.uuid4().hex[:12]}"
        if self.rng.random() < 0.5:
            return "/api/v1/models", f"/api/v1/models/{name}", {"model_id": name}
        return ("/api/v1/federation/applications", "", {"name": name, "host": "http://localhost:3000",
                                                       "version": "1.0.0", "framework": "react"})

    async def one(self, http: httpx.AsyncClient) -> None:
        kind = self.rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
        headers, body, readback = {}, None, None
        if kind == "list":
            method, path = "GET", self.rng.choice(LISTS)
        elif kind == "events":
            method, path = "GET", "/api/v1/integration/events?limit=20"
        elif kind == "infer":
            method, path, body = "POST", "/v2/models/mlp/infer", self.infer_body
            headers["Content-Type"] = "application/json"
        else:
            method = "POST"
            path, readback, payload = self._create()
            body = json.dumps(payload)
            headers["Content-Type"] = "application/json"
            if self.idempotency:
                headers["Idempotency-Key"] = uuid.uuid4().hex
        started = time.perf_counter()
        try:
            response = await http.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.errors[type(exc).__name__] += 1
            return
        self.latency[kind].append((time.perf_counter() - started) * 1000)
        self.statuses[response.status_code] += 1
        if kind == "create" and response.status_code == 201:
            self.acknowledged.append(readback or f"{path}/{response.json()['data']['id']}")

    async def run(self, concurrency: int, duration: float) -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=self.url, headers={"X-API-Key": self.key}, timeout=60,
                                     limits=limits) as http:
            started = time.monotonic()
            deadline = started + duration

            async def client():
                while time.monotonic() < deadline:
                    await self.one(http)
            await asyncio.gather(*(client() for _ in range(concurrency)))
            return time.monotonic() - started

    def lost_writes(self) -> list[str]:
        lost = []
        with httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=60) as http:
            for path in self.acknowledged:
                if http.get(path).status_code != 200:
                    lost.append(path)
        return lost


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def report(label: str, load: Load, elapsed: float, lost: list[str]) -> dict:
    every = [ms for samples in load.latency.values() for ms in samples]
    total = sum(load.statuses.values())
    fivexx = sum(n for status, n in load.statuses.items() if status >= 500)
    row = {"run": label, "requests": total, "rps": total / elapsed, "p50": statistics.median(every) if every else 0,
           "p99": percentile(every, 0.99), "5xx": fivexx, "errors": sum(load.errors.values()),
           "acknowledged": len(load.acknowledged), "lost": len(lost)}
    print(f"\n== {label}: {total} requests in {elapsed:.0f} s = {row['rps']:.1f} req/s; p50 {row['p50']:.0f} ms, "
          f"p99 {row['p99']:.0f} ms; 5xx {fivexx}; transport errors {dict(load.errors) or 0}; "
          f"writes acknowledged {len(load.acknowledged)}, lost {len(lost)}")
    print(f"   statuses {dict(sorted(load.statuses.items()))}")
    for kind, samples in sorted(load.latency.items()):
        print(f"   {kind:<7} n={len(samples):<6} p50 {statistics.median(samples):7.1f} ms   "
              f"p99 {percentile(samples, 0.99):7.1f} ms")
    for path in lost[:10]:
        print(f"   lost: {path}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running platform (then --key is needed); default: start runplatform")
    parser.add_argument("--key", help="an API key holding every scope (manage.py createadmin prints one)")
    parser.add_argument("--web-workers", default="1,2", help="comma-separated web process counts to run")
    parser.add_argument("--backend", choices=["services", "embedded"], default="services")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-idempotency-key", action="store_true")
    args = parser.parse_args()
    idempotency = not args.no_idempotency_key
    rows = []
    if args.url:
        if not args.key:
            parser.error("--url needs --key")
        prepare(args.url, args.key)
        load = Load(args.url, args.key, idempotency, args.seed)
        elapsed = asyncio.run(load.run(args.concurrency, args.duration))
        rows.append(report(args.url, load, elapsed, load.lost_writes()))
    else:
        for n in (int(x) for x in args.web_workers.split(",")):
            platform, done = Platform(n, args.backend), False
            try:
                key = platform.start()
                prepare(platform.url, key)
                load = Load(platform.url, key, idempotency, args.seed)
                elapsed = asyncio.run(load.run(args.concurrency, args.duration))
                rows.append(report(f"{args.backend}, {n} web process(es), c={args.concurrency}", load, elapsed,
                                   load.lost_writes()))
                done = True
            finally:
                platform.stop(keep=not done)
    print("\n| run | requests | req/s | p50 ms | p99 ms | 5xx | transport errors | writes acked | lost |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} | {r['5xx']} | "
              f"{r['errors']} | {r['acknowledged']} | {r['lost']} |")


if __name__ == "__main__":
    main()
