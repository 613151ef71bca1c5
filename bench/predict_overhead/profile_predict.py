"""Where a predict request spends its time, in process (companion of run.py).

Same throwaway embedded deployment as run.py (temp FEDPLANE_VAR_DIR, SQLite, region
`bench-1`, TorchScript MLP 32 -> 64 -> 64 -> 1), but no server: Django's test client
runs the request, the DB connection closed after each one as a server does. Prints the
per-request wall and CPU time of predict (JSON, batch 1 and 64), OIP binary infer and
GET /api/v1/auth/me, then a cProfile of predict batch 64 (top functions by cumulative
time).

    source scripts/setup.sh && python bench/predict_overhead/profile_predict.py --requests 300 --top 40
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.predict_overhead.run import FEATURES, env_for, manage, model_bytes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--batch", type=int, default=64, help="rows of the profiled predict (64)")
    parser.add_argument("--case", default="predict", choices=["predict", "oip"], help="what is profiled")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime)")
    parser.add_argument("--no-audit", action="store_true",
                        help="without fedplane's AuditMiddleware (to size the audit entry a predict writes)")
    parser.add_argument("--callees", default="", help="also list what functions matching this call")
    parser.add_argument("--wal-anchor", action="store_true",
                        help="hold a SQLite connection that has read the database open in this process, so no "
                             "request's close is the WAL's last (what fedplane/api/sqlite.py means to do)")
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="fedplane-bench-predict-profile-"))
    try:
        env = env_for(var_dir)
        manage(env, "migrate", "--noinput")
        key = manage(env, "createadmin", "--quiet-key").splitlines()[-1]
        os.environ.clear()
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "fedplane.settings"
        import django

        django.setup()
        if args.wal_anchor:
            import sqlite3

            anchor = sqlite3.connect(str(var_dir / "fedplane.sqlite3"), isolation_level=None)
            anchor.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        if args.no_audit:
            from django.conf import settings

            settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith(".AuditMiddleware")]
        run(key, args)
        from regions.services.recorder import flush

        flush()  # before the database goes with the temp dir
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def run(key: str, args) -> None:
    import numpy as np
    from django.db import connections
    from django.test import Client

    client = Client(HTTP_X_API_KEY=key)

    def call(method, path, body=None, content_type="application/json", **extra):
        response = getattr(client, method)(path, data=body, content_type=content_type, **extra)
        connections.close_all()
        return response

    assert call("post", "/api/v1/regions", json.dumps({"name": "bench-1"})).status_code == 201
    assert call("post", "/api/v1/models", json.dumps({"model_id": "mlp"})).status_code == 201
    assert call("post", "/api/v1/models/mlp/versions", json.dumps({
        "version": "1.0.0", "format": "torchscript", "region": "bench-1",
        "input_schema": {"shape": [-1, FEATURES], "dtype": "float32"}})).status_code == 201
    assert call("put", "/api/v1/models/mlp/versions/1.0.0/artifact", model_bytes(),
                content_type="application/octet-stream").status_code == 200
    rng = np.random.default_rng(0)
    cases = {"GET /api/v1/auth/me": lambda: call("get", "/api/v1/auth/me")}
    for batch in (1, args.batch):
        x = rng.normal(size=(batch, FEATURES)).astype(np.float32)
        body = json.dumps({"inputs": x.tolist()})
        head = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                                       "parameters": {"binary_data_size": x.nbytes}}],
                           "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
        cases[f"predict JSON, batch {batch}"] = lambda body=body: call("post", "/api/v1/models/mlp/predict", body)
        cases[f"OIP infer binary, batch {batch}"] = lambda head=head, x=x: call(
            "post", "/v2/models/mlp/infer", head + x.tobytes(), content_type="application/octet-stream",
            HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(head)))
    print(f"{'case':<34}{'wall p50 ms':>12}{'cpu p50 ms':>12}")
    for name, fn in cases.items():
        response = fn()
        assert response.status_code == 200, response.content
        for _ in range(20):
            fn()
        wall, cpu = [], []
        for _ in range(args.requests):
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall.append((time.perf_counter() - w) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        print(f"{name:<34}{statistics.median(wall):>12.3f}{statistics.median(cpu):>12.3f}")
    kind = "predict JSON" if args.case == "predict" else "OIP infer binary"
    profiled = f"{kind}, batch {args.batch}"
    fn = cases[profiled]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(args.sort).print_stats(args.top)
    if args.callees:
        stats.print_callees(args.callees)
    print(f"\ncProfile of {args.requests} x {profiled}:")
    print(out.getvalue())


if __name__ == "__main__":
    main()
