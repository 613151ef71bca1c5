"""API overhead: the full fedplane stack vs a bare Django view, same endpoint, one run.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/api_overhead/run.py            # ~35 s
    python bench/api_overhead/run.py --duration 20 --rounds 3 --connections 32
    python bench/api_overhead/run.py --load python     # force the Python load generator
    python bench/api_overhead/run.py --bare-handler fedplane   # bare view through fedplane's ASGI handler

What it does:
1. a throwaway embedded deployment (FEDPLANE_VAR_DIR in a temp dir, SQLite, file
   cache): `migrate`, `createadmin --quiet-key` (an API key), 200 events seeded with
   `fedplane.events.services.emit`;
2. two uvicorn servers, one process each: (a) `fedplane.asgi:application` with
   `fedplane.settings` (every middleware, DRF, API-key authentication, scope check,
   rate-limit counter, filters, pagination, envelope renderer, audit middleware);
   (b) `bench.api_overhead.bare_settings` (MIDDLEWARE = [], one plain view running
   the same queries and returning the same JSON document);
3. the same load on each in turn, `GET /api/v1/integration/events?page=1&limit=20`
   (`X-API-Key` on the full stack): wrk when installed, otherwise a multi-process
   httpx keep-alive load generator; requests/s, p50, p99 and the full/bare ratio.

The default rate limit (1000 requests/h) would turn nearly every benchmark request
into a 429, so the full stack runs with FEDPLANE_RATE_LIMIT_DEFAULT=1000000000: the
counter is still read and written on every request, it just never refuses one.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PATH = "/api/v1/integration/events?page=1&limit=20"
TARGET_RATIO = 0.75  # "the full stack costs under 25% of the bare view's throughput"
SEED_EVENTS = 200

SEED_SCRIPT = r"""
from django.db import transaction
from fedplane.events.services import emit
types = ["execution.started", "round.completed", "module.loaded", "deployment.completed",
         "replication.failed", "client.registered", "dependency.conflict", "region.health"]
with transaction.atomic():
    for i in range({n}):
        t = types[i % len(types)]
        emit(t, {{"index": i, "executionId": f"exec-{{i // 10}}", "round": i % 10,
                 "metrics": {{"loss": 1.0 / (i + 1), "accuracy": i / {n}}}}},
             request_id=f"seed-{{i}}")
"""


# --------------------------------------------------------------------------- setup
def base_env(var_dir: Path, settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "FEDPLANE_ENV", "DEBUG")}
    env.update({
        "FEDPLANE_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": settings,
        "FEDPLANE_RATE_LIMIT_DEFAULT": "1000000000",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""),
    })
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, str(REPO / "manage.py"), *args], env=env, cwd=REPO,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args[:1])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(var_dir: Path) -> str:
    env = base_env(var_dir, "fedplane.settings")
    t0 = time.perf_counter()
    manage(env, "migrate", "--noinput", "-v", "0")
    key = manage(env, "createadmin", "--quiet-key").strip().splitlines()[-1].strip()
    manage(env, "shell", "-c", SEED_SCRIPT.format(n=SEED_EVENTS))
    print(f"prepared {var_dir} (migrate, API key, {SEED_EVENTS} events) in {time.perf_counter() - t0:.1f}s")
    return key


# ------------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, app: str, settings: str, var_dir: Path):
        self.name, self.port = name, free_port()
        self.log_path = var_dir / f"uvicorn-{name}.log"
        self.cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port),
                    "--lifespan", "off", "--no-access-log", "--log-level", "warning"]
        self.env = base_env(var_dir, settings)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def start(self) -> None:
        log = open(self.log_path, "wb")
        # Its own session, so stop() can signal the whole process group.
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, headers: dict[str, str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} server exited ({self.proc.returncode}); "
                                 f"log:\n{self.log_path.read_text()[-3000:]}")
            try:
                status, _, _ = fetch(self.url, headers)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} server not ready after {timeout}s; log: {self.log_path}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass


def fetch(url: str, headers: dict[str, str]):
    """(status, headers (case-insensitive), body) of one GET."""
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def check_documents(full: Server, bare: Server, key: str) -> None:
    """Both servers answer the same document (but for meta's timestamp and request id)."""
    status_f, headers_f, body_f = fetch(full.url, {"X-API-Key": key})
    status_b, _, body_b = fetch(bare.url, {})
    status_anon, _, _ = fetch(full.url, {})
    doc_f, doc_b = json.loads(body_f), json.loads(body_b)
    for doc in (doc_f, doc_b):
        doc["meta"].pop("timestamp"), doc["meta"].pop("requestId")
    same = doc_f == doc_b and list(doc_f) == list(doc_b)
    print(f"full stack: {status_f}, {len(body_f)} bytes, without a key {status_anon}; "
          f"bare: {status_b}, {len(body_b)} bytes; same document: {'yes' if same else 'NO'}")
    present = [h for h in ("X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                           "Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options")
               if headers_f.get(h) is not None]
    print(f"full stack response headers present: {', '.join(present)}")
    if not same:
        print("  full:", json.dumps(doc_f)[:400], "\n  bare:", json.dumps(doc_b)[:400])


# ---------------------------------------------------------------------------- load
@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx responses + socket errors
    sent: int = 0  # every completed request, warm-up included


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+|nan)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(url: str, headers: dict[str, str], threads: int, connections: int, seconds: float) -> Result:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(n) for n in sock.groups())
    if "50" not in pct or "99" not in pct:  # no request completed (wrk prints no distribution)
        print(f"  wrk reported no latency distribution:\n{out}")
    return Result(rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                  p50_ms=_ms(pct.get("50", "nanms")), p99_ms=_ms(pct.get("99", "nanms")),
                  requests=int(re.search(r"(\d+) requests in", out).group(1)), errors=errors)


def _py_worker(url: str, headers: dict, connections: int, warmup: float, seconds: float, out) -> None:
    """One load process: `connections` keep-alive connections, closed loop."""
    import asyncio

    import httpx

    async def main():
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=10) as client:
            start = time.perf_counter()
            measure_from, stop_at = start + warmup, start + warmup + seconds
            latencies, errors, sent = [], 0, 0

            async def loop():
                nonlocal errors, sent
                while True:
                    t0 = time.perf_counter()
                    if t0 >= stop_at:
                        return
                    try:
                        ok = (await client.get(url)).status_code < 400
                    except httpx.HTTPError:
                        ok = False
                    t1 = time.perf_counter()
                    sent += 1
                    if t0 >= measure_from and t1 <= stop_at:
                        latencies.append(t1 - t0)
                        errors += not ok

            await asyncio.gather(*(loop() for _ in range(connections)))
            return latencies, errors, sent

    out.put(asyncio.run(main()))


def run_python(url: str, headers: dict[str, str], processes: int, connections: int, warmup: float,
               seconds: float) -> Result:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    per = [connections // processes + (i < connections % processes) for i in range(processes)]
    procs = [ctx.Process(target=_py_worker, args=(url, headers, n, warmup, seconds, queue)) for n in per if n]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _, _ in results for x in lat)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result(rps=len(latencies) / seconds, p50_ms=q[49] * 1e3, p99_ms=q[98] * 1e3,
                  requests=len(latencies), errors=sum(r[1] for r in results), sent=sum(r[2] for r in results))


def drive(tool: str, server: Server, headers: dict[str, str], args) -> Result:
    if tool == "wrk":
        warm = run_wrk(server.url, headers, args.threads, args.connections, args.warmup)  # discarded
        res = run_wrk(server.url, headers, args.threads, args.connections, args.duration)
        res.sent = warm.requests + res.requests
        return res
    return run_python(server.url, headers, args.threads, args.connections, args.warmup, args.duration)


# ---------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="wrk threads, or processes of the Python load generator (2)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (16)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per round (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each round (2)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measured rounds per server, interleaved bare/full; the median is reported (1)")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--bare-handler", choices=["django", "fedplane"], default="django",
                        help="ASGI handler of the bare server: Django's (the baseline, default) or fedplane's "
                             "(fedplane.api.asgi: pooled request threads, GC freeze), to see the API stack's "
                             "own cost without the handler's gain")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    args = parser.parse_args()

    tool = args.load
    if tool in ("auto", "wrk") and shutil.which("wrk") is None:
        print("wrk is not installed; install it with `sudo apt-get install wrk` (Debian/Ubuntu) "
              "or `brew install wrk` (macOS). Falling back to the Python load generator "
              f"({args.threads} processes, httpx keep-alive), which saturates sooner than wrk.")
        tool = "python"
    elif tool == "auto":
        tool = "wrk"

    var_dir = Path(tempfile.mkdtemp(prefix="fedplane-bench-api-"))
    servers: list[Server] = []

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)  # unwinds through the finally below

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # SIGINT may arrive ignored (background job)
        signal.signal(signum, on_signal)
    try:
        key = prepare(var_dir)
        full = Server("full", "fedplane.asgi:application", "fedplane.settings", var_dir)
        bare_app = {"django": "django.core.asgi", "fedplane": "fedplane.api.asgi"}[args.bare_handler]
        bare = Server("bare", f"{bare_app}:get_asgi_application", "bench.api_overhead.bare_settings", var_dir)
        bare.cmd.insert(bare.cmd.index("--host"), "--factory")
        servers = [full, bare]
        for s in servers:
            s.start()
        full.wait_ready({"X-API-Key": key})
        bare.wait_ready({})
        print(f"servers: full stack on :{full.port} (pid {full.proc.pid}), bare on :{bare.port} (pid {bare.proc.pid}, "
              f"{args.bare_handler}'s ASGI handler); "
              f"uvicorn, one process each, {os.cpu_count()} CPUs")
        load_before = os.getloadavg()[0]
        check_documents(full, bare, key)
        print(f"load: {tool}, {args.threads} threads, {args.connections} connections, "
              f"{args.warmup:g}s warm-up + {args.duration:g}s x {args.rounds} round(s) per server\n"
              f"GET {PATH}\n")

        runs: dict[str, list[Result]] = {"bare": [], "full": []}
        for r in range(args.rounds):
            for name, server, headers in (("bare", bare, {}), ("full", full, {"X-API-Key": key})):
                res = drive(tool, server, headers, args)
                runs[name].append(res)
                print(f"  round {r + 1} {name:4}: {res.rps:8.1f} req/s  p50 {res.p50_ms:7.2f} ms  "
                      f"p99 {res.p99_ms:7.2f} ms  ({res.requests} requests, {res.errors} errors)")

        def med(name: str, field: str) -> float:
            return statistics.median(getattr(x, field) for x in runs[name])

        rows = [(n, med(n, "rps"), med(n, "p50_ms"), med(n, "p99_ms"), sum(x.errors for x in runs[n]))
                for n in ("bare", "full")]
        print(f"\n{'server':<38}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
        labels = {"bare": "bare Django view (no middleware)" if args.bare_handler == "django"
                  else "bare view, fedplane's ASGI handler", "full": "full fedplane stack (API key)"}
        for n, rps, p50, p99, errs in rows:
            print(f"{labels[n]:<38}{rps:>10.1f}{p50:>10.2f}{p99:>10.2f}{errs:>8}")
        ratio = rows[1][1] / rows[0][1]
        print(f"\nratio full/bare throughput: {ratio:.3f}  (full stack costs {100 * (1 - ratio):.1f}% of the "
              f"bare view's throughput; per request {1e3 / rows[1][1] - 1e3 / rows[0][1]:+.2f} ms of server time)")
        print(f"target ratio >= {TARGET_RATIO} (overhead under 25%): {'MET' if ratio >= TARGET_RATIO else 'NOT MET'}")
        load = max(load_before, os.getloadavg()[0])
        print(f"load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
              + ("; the machine was busy with other work, so the absolute figures are low and noisy "
                 "(interleaved --rounds keep the ratio fairer)" if load > 0.5 * (os.cpu_count() or 1) else ""))
        if any(r[4] for r in rows):
            print("warning: some requests failed (non-2xx or socket errors); see the rows above")
        _, headers_f, _ = fetch(full.url, {"X-API-Key": key})
        counted = 1_000_000_000 - int(headers_f.get("X-RateLimit-Remaining", 1_000_000_000))
        sent = sum(x.sent for x in runs["full"]) + 3  # + readiness, document check, this request
        print(f"rate-limit counter after the run: {counted} requests counted of about {sent} sent "
              "to the full stack" + (" (lost updates: the embedded file-cache counter is not atomic under "
                                     "concurrent requests)" if counted < 0.99 * sent else ""))
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            print(f"kept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
