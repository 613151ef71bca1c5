"""fedplane's regional OIP v2 endpoint against KServe's ModelServer and MLServer, same weights, same client.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/predict_peers/run.py          # ~7.5 min (+1-2 min the first time)
    python bench/predict_peers/run.py --rounds 1 --duration 1             # a quick look, ~2 min
    python bench/predict_peers/run.py --models wide --torchscript         # + fedplane serving TorchScript

What it does, in one run:
1. peers' virtualenvs under var/bench-venvs/ (created once from the package index with pinned
   versions, reused while the pins are the same): kserve==0.21.0 and mlserver==1.7.1, each with
   onnxruntime==1.31.1 and numpy==2.4.6. The peers are never dependencies of fedplane.
2. two models (models.py): the digits MLP 64-64-10 and a compute-bound wide MLP
   256-2048-2048-2048-10, as one ONNX graph each, which all three servers run with onnxruntime
   1.31.1 and one intra-op thread (fedplane's ONNX runner);
3. three servers, one process each (MLServer's default adds one inference worker process):
   - fedplane: a throwaway embedded deployment, one uvicorn process of `fedplane.asgi:application`
     serving region bench-1; the versions registered through the API (ONNX, artifact already in the
     region's store); OIP v2 infer with an API key (authentication and scopes), the rate-limit
     counter on every request (limits raised so it never answers 429) and metering (a RequestMetric
     per prediction) as shipped;
   - KServe: `kserve.ModelServer` with a custom `kserve.Model` (kserve_server.py);
   - MLServer: `mlserver start` with a custom runtime (mlserver_runtime.py);
   per-request log lines are off everywhere (fedplane writes none; the peers' access logs and
   KServe's latency trace are turned off);
4. every server's answers (1 and 64 rows, JSON and binary) checked against a NumPy reference and
   against each other (allclose) before any timing;
5. the load (loadgen.py, one raw-socket keep-alive client for all): each case (model x rows 1/64 x
   JSON/binary x concurrency 1/16) on every server, and in process (onnxruntime called directly,
   one call at a time), interleaved over `--rounds` rounds (the servers' order rotates each round);
   MLServer has no binary tensor extension over REST, so its binary cells are empty;
6. a table: req/s, p50, p99 per server and case, the server's CPU per request (its processes' CPU
   time over the answers it gave: less sensitive to other load on the machine than wall time), and
   fedplane / best peer; then the targets (issue 12): fedplane >= 1.0x the best peer's req/s at
   concurrency 16, p50 <= the best peer's at concurrency 1, and for the wide model batch-64
   throughput >= 0.8 of in-process.

Everything runs on this machine, the load generator included: note `uptime`'s load with the figures.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from bench._common.fedplane import REPO, EmbeddedServer, free_port, percentiles  # noqa: E402
from bench.predict_peers import loadgen, models  # noqa: E402

PEERS = {
    "kserve": ("kserve-0.21.0", ["kserve==0.21.0", "onnxruntime==1.31.1", "numpy==2.4.6"]),
    # uvloop 0.22 broke MLServer 1.7.1's inference workers (`asyncio.get_event_loop()` raises in a fresh
    # process: SeldonIO/MLServer#2286, fix unreleased), so its last working release is pinned.
    "mlserver": ("mlserver-1.7.1", ["mlserver==1.7.1", "onnxruntime==1.31.1", "numpy==2.4.6", "uvloop==0.21.0"]),
}
ENCODINGS = ("json", "binary")


# --- peers' virtualenvs ---------------------------------------------------------------------------

def ensure_venv(root: Path, name: str, pins: list[str]) -> Path:
    """root/name with exactly `pins` installed (created once; recreated when the pins change)."""
    venv, want = root / name, "\n".join(pins) + "\n"
    stamp = venv / ".bench-pins"
    if (venv / "bin" / "python").exists() and stamp.exists() and stamp.read_text() == want:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    log = root / f"{name}.install.log"
    with open(log, "wb") as out:
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *pins],
                              stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"pip install {' '.join(pins)} into {venv} failed; see {log}")
    freeze = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True)
    (venv / "pip-freeze.txt").write_text(freeze.stdout)
    stamp.write_text(want)
    print(f"  created {venv} in {time.monotonic() - started:.0f} s ({' '.join(pins)})")
    return venv


# --- servers --------------------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    port: int
    headers: dict[str, str]
    proc: subprocess.Popen | psutil.Popen | None = None
    encodings: tuple[str, ...] = ENCODINGS
    log: Path | None = None
    path_of: str = "/v2/models/{model}/infer"

    def cpu_seconds(self) -> float:
        """CPU time of the server's process and its children (MLServer's inference workers)."""
        if self.proc is None:
            return 0.0
        total = 0.0
        try:
            root = psutil.Process(self.proc.pid)
            for p in [root, *root.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        return total


def source_tree(ref: str, work: Path) -> Path:
    """The fedplane tree to serve: this checkout, or a `git archive` export of `ref` in `work`."""
    if ref:
        root = work / "fedplane-src"
        root.mkdir()
        commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True,
                                text=True).stdout.strip()
        archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        print(f"fedplane served from commit {commit} (git archive in {root})")
        return root
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "fedplane", "regions"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    print(f"fedplane served from the working tree at {head}"
          + (f" with {len(dirty.splitlines())} uncommitted change(s) in fedplane/ and regions/" if dirty else ""))
    return REPO


def wait_ready(server: Server, names: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=server.headers, timeout=5) as http:
        for name in names:
            while True:
                try:
                    if http.get(f"/v2/models/{name}/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if (server.proc is not None and server.proc.poll() is not None) or time.monotonic() > deadline:
                    raise SystemExit(f"{server.name} did not get {name} ready; see {server.log}")
                time.sleep(0.2)


def start_fedplane(work: Path, specs: list[models.Spec], torchscript: bool,
                   root: Path, redis_url: str = "") -> tuple[EmbeddedServer, Server]:
    embedded = EmbeddedServer(region="bench-1", prefix="fedplane-bench-peers-", root=root,
                              env={"REDIS_URL": redis_url} if redis_url else None)
    try:
        embedded.prepare().start()
    except BaseException:
        embedded.stop(keep=True)
        raise
    names = []
    with embedded.client(timeout=120) as http:
        assert http.post("/api/v1/regions", json={"name": "bench-1"}).status_code == 201
        for spec in specs:
            formats = [("onnx", spec.name, "onnx")]
            if torchscript:
                formats.append(("torchscript", f"{spec.name}-ts", "pt"))
            for fmt, name, ext in formats:
                key = f"models/{name}/1.0.0/model.{ext}"
                (embedded.store_dir / key).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(work / f"{spec.name}.{ext}", embedded.store_dir / key)
                assert http.post("/api/v1/models", json={"model_id": name}).status_code == 201
                response = http.post(f"/api/v1/models/{name}/versions", json={
                    "version": "1.0.0", "format": fmt, "region": "bench-1", "artifact_key": key,
                    "input_schema": {"shape": [-1, spec.features], "dtype": "float32"}})
                assert response.status_code == 201, response.text
                names.append(name)
    server = Server("fedplane", embedded.port, {"X-API-Key": embedded.key}, proc=embedded.proc,
                    log=embedded.var_dir / "server.log")
    wait_ready(server, names)
    return embedded, server


def start_kserve(venv: Path, work: Path, specs: list[models.Spec]) -> Server:
    port, log = free_port(), work / "kserve.log"
    proc = subprocess.Popen([str(venv / "bin" / "python"), str(HERE / "kserve_server.py"),
                             *[a for s in specs for a in ("--model", f"{s.name}={work / (s.name + '.onnx')}")],
                             "--http_port", str(port), "--grpc_port", str(free_port())],
                            cwd=work, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    server = Server("kserve", port, {}, proc=proc, log=log)
    wait_ready(server, [s.name for s in specs])
    return server


def start_mlserver(venv: Path, work: Path, specs: list[models.Spec], parallel_workers: int | None) -> Server:
    port, log = free_port(), work / "mlserver.log"
    repo = work / "mlserver-repo"
    repo.mkdir()
    settings = {"debug": False, "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
                "host": "127.0.0.1"}
    if parallel_workers is not None:
        settings["parallel_workers"] = parallel_workers
    (repo / "settings.json").write_text(json.dumps(settings))
    for spec in specs:
        (repo / spec.name).mkdir()
        (repo / spec.name / "model-settings.json").write_text(json.dumps({
            "name": spec.name, "implementation": "mlserver_runtime.OnnxRuntime",
            "parameters": {"uri": str(work / f"{spec.name}.onnx")}}))
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    proc = subprocess.Popen([str(venv / "bin" / "mlserver"), "start", str(repo)], cwd=work, env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    server = Server("mlserver", port, {}, proc=proc, encodings=("json",), log=log)
    wait_ready(server, [s.name for s in specs])
    return server


def stop(server: Server) -> None:
    if server.proc is not None and server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)


# --- checks and load ------------------------------------------------------------------------------

def check_outputs(servers: list[Server], specs: list[models.Spec], layers: dict, model_of) -> None:
    """Every server's answer to the same rows, JSON and binary, against NumPy and against the others."""
    for spec in specs:
        for rows in (1, 64):
            x = models.sample_inputs(spec, rows)
            want = models.reference(layers[spec.name], x)
            answers = {}
            for server in servers:
                for encoding in server.encodings:
                    body, headers = (loadgen.json_body if encoding == "json" else loadgen.binary_body)(x)
                    name = model_of(server, spec)
                    response = httpx.post(f"http://127.0.0.1:{server.port}/v2/models/{name}/infer", content=body,
                                          headers={**server.headers, **headers}, timeout=60)
                    if response.status_code != 200:
                        raise SystemExit(f"{server.name} {spec.name} {encoding}: {response.status_code} "
                                         f"{response.text[:300]}")
                    answers[(server.name, encoding)] = got = loadgen.decode_answer(response.content,
                                                                                  response.headers)
                    if got.shape != want.shape:
                        raise SystemExit(f"{server.name} {spec.name} {encoding}: shape {got.shape}, not {want.shape}")
                    if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
                        raise SystemExit(f"{server.name} {spec.name} {encoding} {rows} rows: answer differs from "
                                         f"NumPy's by {np.abs(got - want).max()}")
            first = next(iter(answers.values()))
            spread = max(float(np.abs(a - first).max()) for a in answers.values())
            print(f"  {spec.name}, {rows} row(s): {len(answers)} answers allclose to NumPy "
                  f"(max |diff| {max(float(np.abs(a - want).max()) for a in answers.values()):.2e}), "
                  f"max |diff| between servers {spread:.2e}")


def in_process(session, x: np.ndarray, warmup: float, duration: float) -> loadgen.Result:
    """The ONNX session called directly, one call at a time, as long as a server's cell."""
    result = loadgen.Result(window_s=duration)
    start_at = time.perf_counter() + warmup
    stop_at = start_at + duration
    while True:
        sent = time.perf_counter()
        if sent >= stop_at:
            return result
        session.run(None, {"input": x})
        done = time.perf_counter()
        result.answered += 1
        if start_at <= done <= stop_at:
            result.latencies_ms.append((done - sent) * 1000)


@dataclass
class Cell:
    results: list[loadgen.Result]
    cpu_s: float = 0.0
    answered: int = 0

    def rps(self) -> float:
        return sum(len(r.latencies_ms) for r in self.results) / sum(r.window_s for r in self.results)

    def rounds(self) -> list[float]:
        return [r.rps for r in self.results]

    def p50_p99(self) -> tuple[float, float]:
        return percentiles([ms for r in self.results for ms in r.latencies_ms] or [float("nan")])

    def cpu_ms(self) -> float:
        return self.cpu_s * 1000 / self.answered if self.answered else float("nan")


def measure(cells: dict, key: tuple, server: Server, request: bytes, concurrency: int, args) -> None:
    """One cell of one round: the load, and the server's CPU time over it."""
    cpu = server.cpu_seconds()
    result = loadgen.run_load("127.0.0.1", server.port, request, concurrency=concurrency, warmup=args.warmup,
                              duration=args.duration)
    cell = cells.setdefault(key, Cell([]))
    cell.results.append(result)
    cell.cpu_s += server.cpu_seconds() - cpu
    cell.answered += result.answered
    if result.errors:
        print(f"  ! {server.name} {key[:4]}: {result.errors} errors, first: {result.first_error}")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return f"{os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB, Python " \
           f"{platform.python_version()}"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="digits,wide")
    parser.add_argument("--rows", default="1,64")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--encodings", default="json,binary")
    parser.add_argument("--servers", default="fedplane,kserve,mlserver")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds measured per cell")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each cell's window")
    parser.add_argument("--torchscript", action="store_true",
                        help="also fedplane serving the same weights as TorchScript (torch, one thread)")
    parser.add_argument("--mlserver-parallel-workers", type=int, default=None,
                        help="MLServer's parallel_workers (default: MLServer's own, 1 inference process)")
    parser.add_argument("--venvs", default=str(REPO / "var" / "bench-venvs"))
    parser.add_argument("--fedplane-ref", default="",
                        help="serve fedplane from this commit (a `git archive` export in the work dir) instead of "
                             "the working tree, e.g. HEAD while others have uncommitted changes")
    parser.add_argument("--no-floor", action="store_true", help="leave out GET /v2/health/live on each server")
    parser.add_argument("--keep", action="store_true", help="keep the work dir, fedplane's var dir and logs")
    parser.add_argument("--redis-url", default="",
                        help="fedplane counts rate limits (and caches) in this Redis, as in production, instead "
                             "of the embedded default's file counters")
    args = parser.parse_args()
    specs = [models.MODELS[m] for m in args.models.split(",")]
    rows_list = [int(r) for r in args.rows.split(",")]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    encodings = args.encodings.split(",")
    wanted = args.servers.split(",")

    print(f"machine: {machine()}; load average at start {load_average()}")
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        venvs = dict(zip([p for p in wanted if p in PEERS], pool.map(
            lambda p: ensure_venv(Path(args.venvs), *PEERS[p]), [p for p in wanted if p in PEERS])))
    work = Path(tempfile.mkdtemp(prefix="fedplane-bench-peers-work-"))
    layers = {}
    for spec in specs:
        layers[spec.name] = models.weights(spec)
        (work / f"{spec.name}.onnx").write_bytes(models.onnx_bytes(layers[spec.name]))
        models.write_npz(work / f"{spec.name}.npz", layers[spec.name])
        if args.torchscript:
            (work / f"{spec.name}.pt").write_bytes(models.torchscript_bytes(layers[spec.name]))

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = {s.name: ort.InferenceSession(str(work / f"{s.name}.onnx"), sess_options=options,
                                             providers=["CPUExecutionProvider"]) for s in specs}

    root = source_tree(args.fedplane_ref, work)

    embedded, servers = None, []
    try:
        if "fedplane" in wanted:
            embedded, server = start_fedplane(work, specs, args.torchscript, root, args.redis_url)
            servers.append(server)
            if args.torchscript:
                servers.append(Server("fedplane-ts", server.port, server.headers, proc=server.proc, log=server.log))
        if "kserve" in wanted:
            servers.append(start_kserve(venvs["kserve"], work, specs))
        if "mlserver" in wanted:
            servers.append(start_mlserver(venvs["mlserver"], work, specs, args.mlserver_parallel_workers))
        print(f"servers up in {time.monotonic() - started:.0f} s: " +
              ", ".join(f"{s.name} :{s.port}" for s in servers))

        def model_of(server: Server, spec: models.Spec) -> str:
            return f"{spec.name}-ts" if server.name == "fedplane-ts" else spec.name

        check_outputs(servers, specs, layers, model_of)

        cells: dict[tuple, Cell] = {}
        cases = [(spec, rows, encoding, c) for spec in specs for rows in rows_list for encoding in encodings
                 for c in concurrencies]
        gc.collect()
        gc.freeze()
        loads = [load_average()]
        floor_servers = [s for s in servers if s.name != "fedplane-ts"]
        for round_no in range(args.rounds):
            order = servers[round_no % len(servers):] + servers[:round_no % len(servers)]
            if not args.no_floor:
                # The HTTP floor of each server: its public OIP liveness route (no auth, no model, no body).
                for concurrency in concurrencies:
                    for server in [s for s in order if s in floor_servers]:
                        request = loadgen.raw_request("127.0.0.1", server.port, "/v2/health/live", b"", {},
                                                      method="GET")
                        measure(cells, ("floor", 0, "GET", concurrency, server.name), server, request, concurrency,
                                args)
            for spec, rows, encoding, concurrency in cases:
                x = models.sample_inputs(spec, rows)
                body, headers = (loadgen.json_body if encoding == "json" else loadgen.binary_body)(x)
                if encoding == encodings[0] and concurrency == concurrencies[0]:
                    result = in_process(sessions[spec.name], x, args.warmup, args.duration)
                    cell = cells.setdefault((spec.name, rows, "-", 1, "in-process"), Cell([]))
                    cell.results.append(result)
                for server in order:
                    if encoding not in server.encodings:
                        continue
                    request = loadgen.raw_request("127.0.0.1", server.port,
                                                  f"/v2/models/{model_of(server, spec)}/infer", body,
                                                  {**server.headers, **headers})
                    measure(cells, (spec.name, rows, encoding, concurrency, server.name), server, request,
                            concurrency, args)
            loads.append(load_average())
            print(f"  round {round_no + 1}/{args.rounds} done at {time.monotonic() - started:.0f} s, "
                  f"load {loads[-1]}")
        report(cells, specs, rows_list, encodings, concurrencies, [s.name for s in servers], args, loads)
        print(f"\nwhole run {time.monotonic() - started:.0f} s; machine: {machine()}")
    finally:
        for server in servers:
            if server.name not in ("fedplane", "fedplane-ts"):
                stop(server)
        if embedded is not None:
            embedded.stop(keep=args.keep)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(cells, specs, rows_list, encodings, concurrencies, names, args, loads) -> None:
    peers = [n for n in names if n in PEERS]
    print(f"\n{args.rounds} round(s) of {args.duration:g} s per cell (after {args.warmup:g} s of warm-up); "
          f"load averages (1/5/15 min) at the start and after each round: {' | '.join(loads)}")
    print("req/s over all rounds (each round's in brackets); p50 / p99 ms; CPU: the server's CPU ms per answer\n")
    head = "| model | rows | enc | c |" + "".join(f" {n} req/s | p50 / p99 | CPU |" for n in names) + \
        " fedplane / best peer req/s | p50 fedplane / best peer |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    verdicts = []
    for spec in specs:
        for rows in rows_list:
            for encoding in encodings:
                for c in concurrencies:
                    line = f"| {spec.name} | {rows} | {encoding} | {c} |"
                    for name in names:
                        cell = cells.get((spec.name, rows, encoding, c, name))
                        if cell is None:
                            line += " n/a | | |"
                            continue
                        p50, p99 = cell.p50_p99()
                        line += (f" {cell.rps():.0f} ({'/'.join(f'{r:.0f}' for r in cell.rounds())}) |"
                                 f" {p50:.2f} / {p99:.2f} | {cell.cpu_ms():.2f} |")
                    ours = cells.get((spec.name, rows, encoding, c, "fedplane"))
                    theirs = [cells[(spec.name, rows, encoding, c, p)] for p in peers
                              if (spec.name, rows, encoding, c, p) in cells]
                    if ours and theirs:
                        best_rps = max(t.rps() for t in theirs)
                        best_p50 = min(t.p50_p99()[0] for t in theirs)
                        ratio, p50_ratio = ours.rps() / best_rps, ours.p50_p99()[0] / best_p50
                        line += f" **{ratio:.2f}** | **{p50_ratio:.2f}** |"
                        if c == max(concurrencies) and c > 1:
                            verdicts.append((f"{spec.name} {rows} row(s) {encoding} c={c}: req/s x{ratio:.2f} "
                                             f"of the best peer", ratio >= 1.0))
                        if c == 1:
                            verdicts.append((f"{spec.name} {rows} row(s) {encoding} c=1: p50 "
                                             f"{ours.p50_p99()[0]:.2f} ms vs best peer {best_p50:.2f} ms",
                                             p50_ratio <= 1.0))
                    else:
                        line += " | |"
                    print(line)
    floors = [(c, n) for c in concurrencies for n in names if ("floor", 0, "GET", c, n) in cells]
    if floors:
        print("\nHTTP floor, GET /v2/health/live (public on all three: no auth, no model):")
        for c, name in floors:
            cell = cells[("floor", 0, "GET", c, name)]
            p50, p99 = cell.p50_p99()
            print(f"  {name:<9} c={c:<3} {cell.rps():6.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                  f"CPU {cell.cpu_ms():.2f} ms/answer")
        for spec in specs:
            for encoding in encodings:
                parts = []
                for name in [n for n in names if n in PEERS or n == "fedplane"]:
                    infer = [cells.get((spec.name, 1, encoding, c, name)) for c in concurrencies]
                    floor = [cells.get(("floor", 0, "GET", c, name)) for c in concurrencies]
                    pairs = [(i.cpu_ms(), f.cpu_ms()) for i, f in zip(infer, floor) if i and f]
                    if pairs:
                        added = statistics.median(i - f for i, f in pairs)
                        parts.append(f"{name} {added:+.2f}")
                if parts:
                    print(f"  CPU ms an infer of 1 row ({spec.name}, {encoding}) adds to the floor: "
                          + ", ".join(parts))
    print("\nin process (onnxruntime, one thread, one call at a time):")
    for spec in specs:
        for rows in rows_list:
            cell = cells.get((spec.name, rows, "-", 1, "in-process"))
            if cell:
                p50, p99 = cell.p50_p99()
                print(f"  {spec.name} batch {rows}: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
                      f"{cell.rps() * rows:,.0f} rows/s")
    print("\ntargets (issue 12):")
    for text, met in verdicts:
        print(f"  {'met    ' if met else 'NOT met'}  {text}")
    wide = cells.get(("wide", 64, "-", 1, "in-process"))
    if wide and 64 in rows_list:
        for encoding in encodings:
            for c in concurrencies:
                ours = cells.get(("wide", 64, encoding, c, "fedplane"))
                if ours:
                    ratio = ours.rps() / wide.rps()
                    print(f"  {'met    ' if ratio >= 0.8 else 'NOT met'}  wide batch-64 {encoding} c={c}: "
                          f"{ours.rps() * 64:,.0f} rows/s = {ratio:.2f} of in-process ({wide.rps() * 64:,.0f}) "
                          f"(target >= 0.8{'; c=16 runs requests in parallel on 2 cores' if c > 1 else ''})")


if __name__ == "__main__":
    main()
