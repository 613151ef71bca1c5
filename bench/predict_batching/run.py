"""Adaptive batching and ONNX Runtime on the compute-bound wide MLP: single rows at concurrency 32.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/predict_batching/run.py            # about 5 minutes
    python bench/predict_batching/run.py --rounds 1 --duration 2               # a quick look, ~2 min

What it does, in one run:
1. a throwaway embedded deployment (bench/_common: temp FEDPLANE_VAR_DIR, SQLite, one uvicorn
   process serving region bench-1) and the wide MLP of bench/predict_peers (256-2048-2048-2048-10,
   8.9 M parameters) registered three times with the same weights: `wide-onnx` (an ONNX graph,
   run by onnxruntime), `wide-torchscript` and `wide-state-dict` (torch, the state dict with its
   layer list); artifacts put in the region's store and registered with `artifact_key`;
2. ONNX Runtime's effect: one call at a time, 1 and 64 rows, in this process (the model as
   `load_model` builds it) and through the API (OIP v2 binary infer, one keep-alive connection),
   formats interleaved over `--rounds` rounds;
3. batching at concurrency 32, single rows, for each format, with batching off and on
   (`max_batch_size` 32, `max_latency_ms` from `--max-latency-ms`):
   - in process: 32 threads calling the service layer (`serving.run_tensor`, metering included);
   - through the API: 32 keep-alive connections (bench/predict_peers/loadgen.py) to OIP v2
     binary infer, and to the seed predict route (JSON) for the ONNX model;
   req/s, p50, p99, mean batch size, the server's CPU ms per request; each case interleaved over
   `--rounds` rounds;
4. the batcher alone (instances.py): its own latency with Poisson arrivals at 50% and 75% of one
   instance's capacity, against the p99 bound, and 64 callers back to back, with 1 and 2 instances
   (REGIONS_BATCH_INSTANCES);
5. the targets (issue 12, item 3): with batching, >= 2x the req/s without, and p99 within
   `max_latency_ms` + one batch's compute (a 32-row batch, timed here in process).

Everything runs on this machine, the load generator included: note `uptime`'s load with the figures.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from bench._common.fedplane import EmbeddedServer, percentiles  # noqa: E402
from bench.predict_batching import instances  # noqa: E402
from bench.predict_peers import loadgen, models  # noqa: E402

SPEC = models.MODELS["wide"]
FORMATS = {"onnx": ("onnx", "onnx"), "torchscript": ("torchscript", "pt"), "state-dict": ("torch_state_dict", "pth")}
CONCURRENCY = 32


def architecture() -> list[dict]:
    layers: list[dict] = []
    for i, (fan_in, fan_out) in enumerate(zip(SPEC.sizes[:-1], SPEC.sizes[1:])):
        if i:
            layers.append({"type": "relu"})
        layers.append({"type": "linear", "in": fan_in, "out": fan_out})
    return layers


def state_dict_bytes(layers: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    import torch

    state = {}
    for i, (w, b) in enumerate(layers):  # Sequential indices: linear, relu, linear, ...
        state[f"{2 * i}.weight"] = torch.from_numpy(w.T.copy())
        state[f"{2 * i}.bias"] = torch.from_numpy(b.copy())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def register(server: EmbeddedServer, http, layers) -> dict[str, str]:
    """Model name per format, each holding the same weights."""
    content = {"onnx": models.onnx_bytes(layers), "torchscript": models.torchscript_bytes(layers),
               "state-dict": state_dict_bytes(layers)}
    names = {}
    for label, (fmt, ext) in FORMATS.items():
        name = f"wide-{label}"
        key = f"models/{name}/1.0.0/model.{ext}"
        (server.store_dir / key).parent.mkdir(parents=True, exist_ok=True)
        (server.store_dir / key).write_bytes(content[label])
        assert http.post("/api/v1/models", json={"model_id": name}).status_code == 201
        body = {"version": "1.0.0", "format": fmt, "region": "bench-1", "artifact_key": key,
                "input_schema": {"shape": [-1, SPEC.features], "dtype": "float32"}}
        if fmt == "torch_state_dict":
            body["architecture"] = architecture()
        response = http.post(f"/api/v1/models/{name}/versions", json=body)
        assert response.status_code == 201, response.text
        names[label] = name
    return names


def set_batching(http, name: str, size: int, latency_ms: float) -> None:
    response = http.patch(f"/api/v1/models/{name}", json={"batching": {"max_batch_size": size,
                                                                       "max_latency_ms": latency_ms}})
    assert response.status_code == 200, response.text


# --- in process -------------------------------------------------------------------------------------

def setup_django(server: EmbeddedServer) -> None:
    """This process as one more process of the deployment (its settings, database and region)."""
    os.environ.update(server.env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "fedplane.settings"
    import django

    django.setup()


def timed_calls(fn, duration: float) -> list[float]:
    for _ in range(5):
        fn()
    samples, stop = [], time.perf_counter() + duration
    while time.perf_counter() < stop:
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def service_load(route, x: np.ndarray, warmup: float, duration: float) -> loadgen.Result:
    """CONCURRENCY threads calling run_tensor with single rows, back to back."""
    from regions.services.serving import run_tensor

    result = loadgen.Result(window_s=duration)
    start_at = time.perf_counter() + warmup
    stop_at = start_at + duration
    lock = threading.Lock()

    def caller(i: int) -> None:
        row = x[i:i + 1]
        mine = []
        while (sent := time.perf_counter()) < stop_at:
            run_tensor(route, row)
            done = time.perf_counter()
            if sent >= start_at and done <= stop_at:
                mine.append((done - sent) * 1000)
        with lock:
            result.latencies_ms.extend(mine)
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


# --- cells ------------------------------------------------------------------------------------------

@dataclass
class Cell:
    results: list[loadgen.Result] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    batch_rows: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.results)

    def p50_p99(self) -> tuple[float, float]:
        return percentiles([s for r in self.results for s in r.latencies_ms])


def batch_counts(model: str, http=None) -> tuple[float, float]:
    """(model runs, rows) of adaptive batching for `model` ("name:version"): the server's (its /metrics)
    or, without `http`, this process's."""
    names = ("fedplane_batch_runs_total", "fedplane_batch_rows_total")
    if http is None:
        from prometheus_client import REGISTRY

        return tuple(REGISTRY.get_sample_value(n, {"model": model}) or 0.0 for n in names)
    found = dict.fromkeys(names, 0.0)
    for line in http.get("/metrics").text.splitlines():
        for n in names:
            if line.startswith(f'{n}{{model="{model}"}}'):
                found[n] = float(line.rsplit(" ", 1)[1])
    return found[names[0]], found[names[1]]


def batcher_alone(formats, loaded, row: np.ndarray, one_batch_ms: dict, args) -> list[str]:
    """3. The batcher's own latency in an open loop, and its instance count; verdict lines for the summary."""
    shares = (0.5, 0.75)  # at 90% the load generator, on the same 2 cores, falls behind its own schedule
    print(f"\n3. the batcher alone (submit -> answer; bench/predict_batching/instances.py), max_batch_size "
          f"{CONCURRENCY}, max_latency_ms {args.max_latency_ms:g}, instances 1 and 2 interleaved over "
          f"{args.rounds} round(s)")
    print(f"{'format':<14}{'load':<24}{'1 instance p50 / p99':>22}{'2 instances p50 / p99':>24}"
          f"{'rows/batch 1 / 2':>18}{'p99 bound':>11}")
    verdicts = []
    for f in formats:
        capacity = CONCURRENCY / one_batch_ms[f] * 1000  # rows a second one instance runs in full batches
        bound = args.max_latency_ms + one_batch_ms[f]
        for share in shares:
            cells: dict[int, list] = {1: [], 2: []}
            for round_no in range(args.rounds):
                for n in (1, 2):
                    cells[n].append(instances.open_loop(loaded[f].run, row, rate=capacity * share,
                                                        duration=args.duration, instances=n, seed=round_no,
                                                        max_latency_ms=args.max_latency_ms))
            worst = {n: max(c[1] for c in cells[n]) for n in cells}
            med = {n: [statistics.median(c[i] for c in cells[n]) for i in range(3)] for n in cells}
            print(f"{f:<14}{f'open, {share:.0%} of {capacity:.0f}/s':<24}"
                  f"{med[1][0]:>12.2f} /{worst[1]:>7.2f}{med[2][0]:>14.2f} /{worst[2]:>7.2f}"
                  f"{med[1][2]:>10.1f} / {med[2][2]:<5.1f}{bound:>11.2f}")
            verdicts.append(f"  {f:<12} batcher alone, open loop at {share:.0%} of one instance: p99 "
                            f"{worst[1]:.2f} (1 instance) / {worst[2]:.2f} (2) ms vs {bound:.2f} ms "
                            f"({'within' if min(worst.values()) <= bound else 'above'})")
        closed = {1: [], 2: []}
        for _ in range(args.rounds):
            for n in (1, 2):
                closed[n].append(instances.closed_loop(loaded[f].run, row, callers=2 * CONCURRENCY,
                                                       duration=args.duration, instances=n,
                                                       max_latency_ms=args.max_latency_ms))
        rps = {n: statistics.median(c[0] for c in closed[n]) for n in closed}
        p50 = {n: statistics.median(c[1] for c in closed[n]) for n in closed}
        p99 = {n: max(c[2] for c in closed[n]) for n in closed}
        print(f"{f:<14}{f'closed, {2 * CONCURRENCY} callers':<24}{p50[1]:>12.2f} /{p99[1]:>7.2f}"
              f"{p50[2]:>14.2f} /{p99[2]:>7.2f}   req/s {rps[1]:.0f} -> {rps[2]:.0f} ({rps[2] / rps[1]:.2f}x)")
    return verdicts


def machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per case and round")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-latency-ms", type=float, default=2.0)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and the server log")
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    loads = [load_average()]
    layers = models.weights(SPEC)
    x = models.sample_inputs(SPEC, 64)
    expected = models.reference(layers, x)
    server = EmbeddedServer(region="bench-1", prefix="fedplane-bench-batching-").prepare()
    try:
        server.start()
        http = server.client(timeout=120)
        assert http.post("/api/v1/regions", json={"name": "bench-1"}).status_code == 201
        names = register(server, http, layers)
        setup_django(server)
        from regions.services.loading import load_model
        from regions.services.routing import model_routes

        routes = {f: model_routes(names[f])[0] for f in formats}
        loaded = {f: load_model(routes[f].version, routes[f].region) for f in formats}
        for f in formats:  # every format answers the same, in process and through the API
            assert np.allclose(loaded[f].run(x), expected, rtol=1e-4, atol=1e-4), f
            body, headers = loadgen.binary_body(x)
            answer = http.post(f"/v2/models/{names[f]}/infer", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert np.allclose(loadgen.decode_answer(answer.content, answer.headers), expected, rtol=1e-4,
                               atol=1e-4), f
        print(f"machine: {machine()}; load average at start {loads[0]}")
        print(f"model: {SPEC.what}; runtimes: " + ", ".join(f"{f} -> {loaded[f].meta['runtime']}" for f in formats))

        # 1. ONNX Runtime's effect, one call at a time; rounds interleave the formats, samples pooled.
        print(f"\n1. one call at a time, p50 / p99 ms ({args.rounds} x {args.duration / 2:g} s per cell)")
        print(f"{'format':<14}{'runtime':<13}{'in process 1':>16}{'in process 64':>16}{'API 1 row':>16}"
              f"{'API 64 rows':>16}")
        single: dict[tuple, list[float]] = {}
        batch_ms: dict[str, list[float]] = {f: [] for f in formats}
        batch32 = np.ascontiguousarray(x[:CONCURRENCY])
        for _ in range(args.rounds):
            for f in formats:
                for rows in (1, 64):
                    batch = np.ascontiguousarray(x[:rows])
                    single.setdefault((f, "local", rows), []).extend(
                        timed_calls(lambda: loaded[f].run(batch), args.duration / 2))
                    body, headers = loadgen.binary_body(x[:rows])
                    request = loadgen.raw_request("127.0.0.1", server.port, f"/v2/models/{names[f]}/infer", body,
                                                  {**headers, "X-API-Key": server.key})
                    result = loadgen.run_load("127.0.0.1", server.port, request, concurrency=1, warmup=0.3,
                                              duration=args.duration / 2)
                    assert not result.errors, result.first_error
                    single.setdefault((f, "api", rows), []).extend(result.latencies_ms)
                batch_ms[f].append(percentiles(timed_calls(lambda: loaded[f].run(batch32), 0.5))[0])
        for f in formats:
            cells = [percentiles(single[(f, where, rows)]) for where in ("local", "api") for rows in (1, 64)]
            print(f"{f:<14}{loaded[f].meta['runtime']:<13}"
                  + "".join(f"{p50:>8.2f} /{p99:>6.2f}" for p50, p99 in cells))
        # One batch's compute for the p99 bound: the lowest round's p50 (the model's own cost; the
        # rounds above it met other load on the machine).
        one_batch_ms = {f: min(batch_ms[f]) for f in formats}
        print("a 32-row batch in process, p50 ms per round: " + "; ".join(
            f"{f} " + ", ".join(f"{v:.2f}" for v in batch_ms[f]) for f in formats))
        loads.append(load_average())

        # 2. Batching at concurrency 32, single rows.
        cases = [(f, "in process") for f in formats] + [(f, "OIP binary") for f in formats]
        if "onnx" in formats:
            cases.append(("onnx", "predict JSON"))
        cells: dict[tuple, Cell] = {}
        proc = psutil.Process(server.proc.pid)
        for round_no in range(args.rounds):
            for f, path in cases:
                for batching in (False, True):
                    size = CONCURRENCY if batching else 1
                    set_batching(http, names[f], size, args.max_latency_ms)
                    routes[f].version.model.batch_max_size = size  # this process's copy of the same settings
                    routes[f].version.model.batch_max_latency_ms = args.max_latency_ms
                    cell = cells.setdefault((f, path, batching), Cell())
                    label = f"{names[f]}:1.0.0"
                    counts_before = batch_counts(label, None if path == "in process" else http)
                    if path == "in process":
                        result = service_load(routes[f], x, args.warmup, args.duration)
                        cpu = None
                    else:
                        if path == "OIP binary":
                            body, headers = loadgen.binary_body(x[:1])
                            target = f"/v2/models/{names[f]}/infer"
                        else:
                            import orjson

                            body, headers = orjson.dumps({"inputs": x[:1].tolist()}), {
                                "Content-Type": "application/json"}
                            target = f"/api/v1/models/{names[f]}/predict"
                        request = loadgen.raw_request("127.0.0.1", server.port, target, body,
                                                      {**headers, "X-API-Key": server.key})
                        cpu_before = sum(proc.cpu_times()[:2])
                        result = loadgen.run_load("127.0.0.1", server.port, request, concurrency=CONCURRENCY,
                                                  warmup=args.warmup, duration=args.duration)
                        cpu = (sum(proc.cpu_times()[:2]) - cpu_before) * 1000 / max(1, result.answered)
                        assert not result.errors, result.first_error
                    runs, rows = (b - a for a, b in zip(counts_before, batch_counts(
                        label, None if path == "in process" else http)))
                    cell.results.append(result)
                    if cpu is not None:
                        cell.cpu_ms.append(cpu)
                    if runs:
                        cell.batch_rows.append(rows / runs)
            loads.append(load_average())
        for f in formats:
            set_batching(http, names[f], 1, 0)

        print(f"\n2. concurrency {CONCURRENCY}, single rows: batching off vs on (max_batch_size {CONCURRENCY}, "
              f"max_latency_ms {args.max_latency_ms:g}); {args.rounds} round(s) of {args.duration:g} s")
        print(f"{'format':<14}{'path':<15}{'off req/s':>11}{'p50':>8}{'p99':>8}{'on req/s':>11}{'p50':>8}{'p99':>8}"
              f"{'x':>7}{'rows/batch':>12}{'cpu ms/req off/on':>20}{'p99 bound':>11}")
        verdicts = []
        for f, path in cases:
            off, on = cells[(f, path, False)], cells[(f, path, True)]
            ratio = on.rps / off.rps if off.rps else float("nan")
            bound = args.max_latency_ms + one_batch_ms[f]
            p50_off, p99_off = off.p50_p99()
            p50_on, p99_on = on.p50_p99()
            rows = f"{statistics.mean(on.batch_rows):.1f}" if on.batch_rows else "-"
            cpu = f"{statistics.mean(off.cpu_ms):.2f} / {statistics.mean(on.cpu_ms):.2f}" if on.cpu_ms else "-"
            print(f"{f:<14}{path:<15}{off.rps:>11.0f}{p50_off:>8.2f}{p99_off:>8.2f}{on.rps:>11.0f}{p50_on:>8.2f}"
                  f"{p99_on:>8.2f}{ratio:>7.2f}{rows:>12}{cpu:>20}{bound:>11.2f}")
            verdicts.append((f, path, ratio, p99_on, bound))
        loads.append(load_average())
        instance_verdicts = batcher_alone(formats, loaded, x[:1], one_batch_ms, args)
        loads.append(load_average())

        print(f"\nload average during the run: {', '.join(loads)}")
        print("targets (issue 12, item 3): throughput with batching >= 2x without; p99 <= max_latency_ms + one "
              "32-row batch's compute (in process; through the API the HTTP path's own p99 comes on top)")
        for f, path, ratio, p99, bound in verdicts:
            print(f"  {f:<12} {path:<13} {ratio:5.2f}x ({'met' if ratio >= 2 else 'not met'}); p99 {p99:.2f} ms vs "
                  f"{bound:.2f} ms ({'within' if p99 <= bound else 'above'})")
        for line in instance_verdicts:
            print(line)
    finally:
        server.stop(keep=args.keep)


if __name__ == "__main__":
    main()
