"""Predict overhead: the model through fedplane's API vs the same model called in process.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/predict_overhead/run.py            # about 1 minute
    python bench/predict_overhead/run.py --requests 500 --keep

What it does, in one run:
1. a throwaway embedded deployment (FEDPLANE_VAR_DIR in a temp dir, SQLite): migrate,
   an admin API key, region `bench-1` with a local store, model `mlp` 1.0.0 (a TorchScript
   MLP 32 -> 64 -> 64 -> 1) uploaded through the API;
2. one uvicorn process serving region bench-1 (FEDPLANE_REGION=bench-1);
3. for single rows and batches of 64: the same inputs through `POST /api/v1/models/mlp/predict`
   (one keep-alive client, sequential requests), through OIP v2 binary infer, and through
   the TorchScript module loaded in this process; p50/p99 latency, rows/s, and side by side
   the p50 added by the API and the API/in-process batch throughput ratio.

Targets (issue 5): under 2 ms p50 added per request; batch throughput at least 60% of in-process.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench._common.fedplane import EmbeddedServer, env_for, manage, percentiles  # noqa: E402,F401  (profile_predict.py)

FEATURES = 32


def model_bytes() -> bytes:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


def timed(fn, n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and the server log")
    parser.add_argument("--wal-anchor", action="store_true",
                        help="this process holds a SQLite connection that has read the server's database, so no "
                             "request's close is the WAL's last (what fedplane/api/sqlite.py means to do in the "
                             "server)")
    args = parser.parse_args()
    server = EmbeddedServer(region="bench-1", prefix="fedplane-bench-predict-")
    try:
        server.prepare()
        if args.wal_anchor:
            import sqlite3

            anchor = sqlite3.connect(str(server.var_dir / "fedplane.sqlite3"), isolation_level=None)
            anchor.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        content = model_bytes()
        server.start()
        client = server.client()
        assert client.post("/api/v1/regions", json={"name": "bench-1"}).status_code == 201
        assert client.post("/api/v1/models", json={"model_id": "mlp"}).status_code == 201
        assert client.post("/api/v1/models/mlp/versions", json={
            "version": "1.0.0", "format": "torchscript", "region": "bench-1",
            "input_schema": {"shape": [-1, FEATURES], "dtype": "float32"}}).status_code == 201
        assert client.put("/api/v1/models/mlp/versions/1.0.0/artifact", content=content,
                          headers={"Content-Type": "application/octet-stream"}).status_code == 200

        local = torch.jit.load(io.BytesIO(content))
        torch.set_num_threads(1)
        rng = np.random.default_rng(0)
        rows = {1: rng.normal(size=(1, FEATURES)).astype(np.float32),
                64: rng.normal(size=(64, FEATURES)).astype(np.float32)}
        print(f"{'case':<32}{'p50 ms':>10}{'p99 ms':>10}{'rows/s':>12}")
        summary = {}
        # Floors for context: an HTTP round trip through uvicorn and Django (public OIP liveness, no
        # database), and an authenticated API call (API key, scopes, rate-limit counter, envelope).
        for name, path in (("floor: GET /v2/health/live", "/v2/health/live"), ("floor: GET /api/v1/auth/me",
                                                                              "/api/v1/auth/me")):
            samples = timed(lambda: client.get(path), args.requests)
            p50, p99 = percentiles(samples)
            summary[name] = (p50, 0.0)
            print(f"{name:<32}{p50:>10.3f}{p99:>10.3f}{'':>12}")
        for batch, x in rows.items():
            # Encoded once, like the OIP payload: 2048 floats through the client's json.dumps took
            # 1-2 ms per request, client time that was counted as the API's.
            body = json.dumps({"inputs": x.tolist()}).encode()

            def api():
                response = client.post("/api/v1/models/mlp/predict", content=body,
                                       headers={"Content-Type": "application/json"})
                assert response.status_code == 200, response.text

            head = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                                           "parameters": {"binary_data_size": x.nbytes}}],
                               "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
            payload = head + x.tobytes()

            def oip():
                response = client.post("/v2/models/mlp/infer", content=payload,
                                       headers={"Inference-Header-Content-Length": str(len(head)),
                                                "Content-Type": "application/octet-stream"})
                assert response.status_code == 200, response.text

            tensor = torch.from_numpy(x)

            def direct():
                with torch.inference_mode():
                    local(tensor).numpy().tolist()
            for name, fn in (("in-process", direct), ("API predict (JSON)", api), ("OIP v2 infer (binary)", oip)):
                samples = timed(fn, args.requests)
                p50, p99 = percentiles(samples)
                rate = batch * 1000 / statistics.mean(samples)
                summary[(batch, name)] = (p50, rate)
                print(f"{f'{name}, batch {batch}':<32}{p50:>10.3f}{p99:>10.3f}{rate:>12.0f}")
        print()
        local_row = (summary[(64, "in-process")][0] - summary[(1, "in-process")][0]) / 63 * 1000
        for name in ("API predict (JSON)", "OIP v2 infer (binary)"):
            added = summary[(1, name)][0] - summary[(1, "in-process")][0]
            ratio = summary[(64, name)][1] / summary[(64, "in-process")][1]
            per_row = (summary[(64, name)][0] - summary[(1, name)][0]) / 63 * 1000
            print(f"{name}: p50 added per single request {added:.3f} ms (target < 2 ms: "
                  f"{'met' if added < 2 else 'not met'}); batch-64 throughput {ratio:.4f} of in-process "
                  f"(target >= 0.60: {'met' if ratio >= 0.6 else 'not met'}); each extra row of a batch "
                  f"{per_row:.1f} us (in process {local_row:.2f} us)")
        # What any HTTP answer costs caps the batch ratio, whatever the server does:
        floor = summary["floor: GET /v2/health/live"][0]
        local64 = summary[(64, "in-process")][0]
        print(f"ceiling of the batch-64 ratio with a request as cheap as GET /v2/health/live ({floor:.3f} ms): "
              f"{local64 / (local64 + floor):.4f}; a 64-row batch would have to take {1.5 * floor:.1f} ms in "
              "process for 0.60 to be reachable at that floor")
    finally:
        server.stop(keep=args.keep)


if __name__ == "__main__":
    main()
