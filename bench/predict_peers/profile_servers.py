"""Where each server of bench/predict_peers spends its CPU under load: py-spy over the running processes.

    source scripts/setup.sh && python bench/predict_peers/profile_servers.py --py-spy /path/to/py-spy
    python bench/predict_peers/profile_servers.py --py-spy py-spy --model digits --rows 1 --encoding binary -c 16

Starts the same servers as run.py (same venvs, models and settings), then for each server runs the
load of one case for `--seconds` while `py-spy record` samples every thread of its processes
(`--subprocesses`: MLServer's inference worker too; idle threads left out), and prints the share of
samples under each of a few groups of frames (inclusive: a sample counts in every group whose frame
is on its stack) and the top functions by own time. py-spy is not a dependency of anything here:
`python -m venv /tmp/spy && /tmp/spy/bin/pip install py-spy`, then pass its path.
"""
from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from bench._common.fedplane import REPO  # noqa: E402
from bench.predict_peers import loadgen, models, run  # noqa: E402

# (label, substrings of a frame); a sample counts in a group when any frame of its stack matches.
GROUPS = [
    ("HTTP server (uvicorn/httptools/h11, event loop)", ("uvicorn/", "httptools", "h11/", "uvloop", "asyncio/")),
    ("ASGI app -> sync thread hand-off (asgiref)", ("asgiref/",)),
    ("Django request handling, middleware", ("django/core/handlers", "django/utils/deprecation.py",
                                             "fedplane/api/middleware.py", "fedplane/api/metrics.py",
                                             "fedplane/api/asgi.py", "corsheaders/", "whitenoise/")),
    ("URL resolution", ("django/urls/resolvers.py",)),
    ("DRF view dispatch (incl. auth, throttle, view)", ("rest_framework/views.py",)),
    ("  authentication (API key)", ("fedplane/api/authentication.py",)),
    ("  rate-limit counter", ("fedplane/api/throttling.py", "fedplane/api/ratelimit.py")),
    ("  routing (model_routes)", ("regions/services/routing.py",)),
    ("  OIP parse/encode", ("regions/services/oip.py",)),
    ("  run_tensor (model + metering)", ("regions/services/serving.py",)),
    ("  metering (recorder)", ("regions/services/recorder.py",)),
    ("FastAPI/Starlette routing and middleware", ("fastapi/", "starlette/")),
    ("pydantic", ("pydantic/", "pydantic_core")),
    ("KServe dataplane/model/infer types", ("kserve/",)),
    ("MLServer handlers/codecs/parallel", ("mlserver/",)),
    ("JSON (orjson/json)", ("orjson", "json/")),
    ("prometheus client", ("prometheus_client/",)),
    ("logging", ("logging/",)),
    ("the model (onnxruntime/torch run)", ("onnxruntime/", "torch/")),
]


# py-spy's idle detection does not see these threads as idle here (a pool thread blocked on its queue, an
# event loop in epoll inside uvloop's C code): samples whose innermost frame is one of these are left out.
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py:81)", "Condition.wait (threading.py", "Thread.run (threading.py",
               "Runner.run (asyncio/runners.py", "_write_forever (regions/services/recorder.py",
               "Event.wait (threading.py", "Thread.join (threading.py", "_wait_for_tstate_lock (threading.py",
               "select (selectors.py", "Queue.get (queue.py")


def summarize(raw: Path, top: int) -> None:
    groups: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = idle = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if any(frames[-1].startswith(leaf) for leaf in IDLE_LEAVES):
            idle += n
            continue
        total += n
        for label, needles in GROUPS:
            if any(needle in frame for frame in frames for needle in needles):
                groups[label] += n
        own[frames[-1]] += n
    if not total:
        print("  (no samples)")
        return
    print(f"  {total} busy samples ({idle} idle ones left out); share of the busy samples:")
    for label, _ in GROUPS:
        if groups[label]:
            print(f"  {100 * groups[label] / total:5.1f}%  {label}")
    print("  top own time:")
    for frame, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {frame[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--py-spy", required=True, help="path of a py-spy executable")
    parser.add_argument("--servers", default="fedplane,kserve,mlserver")
    parser.add_argument("--model", default="digits", choices=sorted(models.MODELS))
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--encoding", default="json", choices=["json", "binary"])
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--fedplane-ref", default="")
    parser.add_argument("--venvs", default=str(REPO / "var" / "bench-venvs"))
    parser.add_argument("--raw-dir", help="keep py-spy's raw stacks (one file per server) in this folder")
    args = parser.parse_args()
    wanted = args.servers.split(",")
    spec = models.MODELS[args.model]
    work = Path(tempfile.mkdtemp(prefix="fedplane-bench-peers-profile-"))
    venvs = {p: run.ensure_venv(Path(args.venvs), *run.PEERS[p]) for p in wanted if p in run.PEERS}
    layers = models.weights(spec)
    (work / f"{spec.name}.onnx").write_bytes(models.onnx_bytes(layers))
    root = run.source_tree(args.fedplane_ref, work)
    embedded, servers = None, []
    try:
        if "fedplane" in wanted:
            embedded, server = run.start_fedplane(work, [spec], False, root)
            servers.append(server)
        if "kserve" in wanted:
            servers.append(run.start_kserve(venvs["kserve"], work, [spec]))
        if "mlserver" in wanted:
            servers.append(run.start_mlserver(venvs["mlserver"], work, [spec], None))
        x = models.sample_inputs(spec, args.rows)
        body, headers = (loadgen.json_body if args.encoding == "json" else loadgen.binary_body)(x)
        for server in servers:
            if args.encoding not in server.encodings:
                print(f"\n{server.name}: no {args.encoding} tensors, skipped")
                continue
            request = loadgen.raw_request("127.0.0.1", server.port, f"/v2/models/{spec.name}/infer", body,
                                          {**server.headers, **headers})
            raw = work / f"{server.name}.txt"
            spy = subprocess.Popen([args.py_spy, "record", "--pid", str(server.proc.pid), "--subprocesses",
                                    "--rate", str(args.rate), "--duration", str(int(args.seconds)), "--format", "raw",
                                    "--output", str(raw)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            result: list = []
            load = threading.Thread(target=lambda: result.append(loadgen.run_load(
                "127.0.0.1", server.port, request, concurrency=args.concurrency, warmup=0.5,
                duration=args.seconds)))
            load.start()
            spy.wait()
            load.join()
            print(f"\n{server.name}: {spec.name} {args.rows} row(s) {args.encoding} c={args.concurrency}, "
                  f"{result[0].rps:.0f} req/s under py-spy")
            summarize(raw, args.top)
            if args.raw_dir:
                Path(args.raw_dir).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(raw, Path(args.raw_dir) / raw.name)
    finally:
        for server in servers:
            if server.name != "fedplane":
                run.stop(server)
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
