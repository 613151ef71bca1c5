"""Shell runtime endpoint vs the same JSON as a static file, same server, one run.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/runtime_config/run.py          # ~1 minute
    python bench/runtime_config/run.py --duration 10 --connections 32 --load python

1. a throwaway embedded deployment (SQLite in a temp FEDPLANE_VAR_DIR): `migrate`, one
   shell application with 3 remote modules and 3 shared packages;
2. one uvicorn process running fedplane with `bench.runtime_config.settings` (fedplane's
   settings and routes, plus `/bench-static/` served by django.views.static.serve: the
   same middleware stack, so the comparison is the endpoint's own cost);
3. the same load on, in turn: the shell endpoint (200 with the body), the shell endpoint
   revalidating with If-None-Match (304), and the static copy of the same document.
   Prints requests/s, p50, p99, and each endpoint's rate as a share of the static file's
   (target: at least 50%).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.api_overhead.run import base_env, fetch, free_port, manage, run_python, run_wrk  # noqa: E402

TARGET = 0.5
SEED = r"""
from federation_registry.services import applications, dependencies, modules
app = applications.application_create(name="shop", host="http://localhost:3000", version="1.0.0",
                                      framework="react")
for name in ("catalog", "cart", "account"):
    modules.module_register(application_id=app.pk, data={
        "name": name, "url": f"http://cdn.local/{name}/1.0.0/remoteEntry.js", "version": "1.0.0",
        "exposedModules": ["./App", "./Widget"]})
for package, version in (("react", "18.2.0"), ("react-dom", "18.2.0"), ("lodash", "4.17.21")):
    dependencies.dependency_create(package=package, version=version, singleton=package != "lodash",
                                   strict_version=False, applications=[app.pk])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tool = "wrk" if args.load == "wrk" or (args.load == "auto" and shutil.which("wrk")) else "python"
    var_dir = Path(tempfile.mkdtemp(prefix="fedplane-bench-rc-"))
    static_dir = var_dir / "static-bench"
    static_dir.mkdir()
    env = base_env(var_dir, "bench.runtime_config.settings")
    env["BENCH_STATIC_DIR"] = str(static_dir)
    proc = None
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "shell", "-c", SEED)
        port = free_port()
        log = open(var_dir / "uvicorn.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "fedplane.asgi:application", "--host", "127.0.0.1",
                                 "--port", str(port), "--lifespan", "off", "--no-access-log", "--log-level",
                                 "warning"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        shell_url = f"{base}/api/v1/federation/runtime/shop/shell/production"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, body = fetch(shell_url, {})
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"server not ready; log: {var_dir / 'uvicorn.log'}")
            time.sleep(0.2)
        etag = headers["ETag"]
        (static_dir / "shell.json").write_bytes(body)
        static_url = f"{base}/bench-static/shell.json"
        assert fetch(static_url, {})[2] == body
        assert fetch(shell_url, {"If-None-Match": etag})[0] == 304
        print(f"document: {len(body)} bytes, ETag {etag}; load generator: {tool}, {args.connections} connections, "
              f"{args.duration:g}s per case after {args.warmup:g}s warm-up")
        cases = [("shell endpoint (200)", shell_url, {}), ("shell endpoint, If-None-Match (304)", shell_url,
                                                           {"If-None-Match": etag}),
                 ("static file (200)", static_url, {})]
        results = {}
        for name, url, hdrs in cases:
            if tool == "wrk":
                run_wrk(url, hdrs, args.threads, args.connections, args.warmup)
                results[name] = run_wrk(url, hdrs, args.threads, args.connections, args.duration)
            else:
                results[name] = run_python(url, hdrs, args.threads, args.connections, args.warmup, args.duration)
        static = results["static file (200)"].rps
        print(f"{'case':40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs static':>9}")
        for name, res in results.items():
            print(f"{name:40} {res.rps:9.1f} {res.p50_ms:8.1f} {res.p99_ms:8.1f} {res.errors:7d} "
                  f"{res.rps / static:9.2f}")
        worst = min(results[n].rps for n, _, _ in cases[:2]) / static
        print(f"lowest endpoint/static ratio: {worst:.2f} (target >= {TARGET}: {'met' if worst >= TARGET else 'NOT met'})")
    finally:
        if proc is not None and proc.poll() is None:
            import os
            import signal
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        if args.keep:
            print(f"kept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
