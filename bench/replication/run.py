"""Verified replication against what a team would run instead: rclone, cp + sha256sum, the hash-bound limit.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/replication/run.py          # 100 MB and 1 GB, 5 rounds: ~2.5 min
    python bench/replication/run.py --sizes-mb 100 --rounds 9

In one process, on a throwaway embedded deployment (FEDPLANE_VAR_DIR in a temp dir): a source
region with a local store holding an artifact of random bytes per size, then, per round, each
case copies it to a fresh place, the order rotating from round to round:
- **fedplane**: `regions.services.replication.replicate_target` (what the Celery task runs) into a
  new region's local store: copy, read back and sha256 what landed, compare with the version's
  digest, move into place, record;
- **store copy only**: the same copy and read-back (`Store.stage_copy`) without the bookkeeping;
- **rclone**: `rclone copy --checksum` of the file to a fresh folder (Debian's rclone; it checks
  the copy's MD5 against the source's after the transfer);
- **cp + sha256sum**: `cp` of the file, then `sha256sum` of the target;
- **plain copy**: `shutil.copyfile` (the kernel copies; nothing is read back);
- **sha256**: Python's `hashlib.sha256` over the same bytes, already in memory.
The **hash-bound limit** of a round is the larger of its plain copy and sha256 times: a verified
copy cannot beat it with one SHA-256 stream. Before each case `os.sync()` writes dirty pages back;
each case's output is deleted once timed. Prints MB/s (best, median) of each and the ratios
fedplane/rclone and fedplane/hash-bound with their targets (issue 12, item 5: >= 1.0 and >= 0.8),
and the machine's load (the VM is shared).

rclone comes from Debian's package: if it is not installed, the bench installs it with apt-get
when it runs as root; otherwise it says so and measures the rest.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def rclone() -> tuple[str | None, str]:
    """rclone's path and version, installing Debian's package when possible; (None, why) otherwise."""
    found = shutil.which("rclone")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", "rclone"], env=env, capture_output=True, text=True)
        found = shutil.which("rclone")
        if not found:
            return None, f"apt-get install rclone failed: {done.stderr.strip()[-300:]}"
    if not found:
        return None, "not installed, and this user cannot apt-get install it (not root)"
    version = subprocess.run([found, "version"], capture_output=True, text=True).stdout.splitlines()[0]
    return found, version


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", default="100,1000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="fedplane-bench-repl-", dir=os.environ.get("BENCH_TMP")))
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update({"FEDPLANE_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "fedplane.settings",
                       "LOG_LEVEL": "WARNING"})
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from regions.models import ReplicationJob, ReplicationTarget
    from regions.services.regions import region_create
    from regions.services.registry import model_create, version_create
    from regions.services.replication import replicate_target
    from regions.stores import store_for

    rclone_path, rclone_about = rclone()
    print(f"rclone: {rclone_about}")
    print(f"cpus: {os.cpu_count()}, chunk {settings.REGIONS_REPLICATION_CHUNK_BYTES >> 20} MiB, {load()}")
    try:
        call_command("migrate", verbosity=0)
        source = region_create(name="src", store_url=(var_dir / "src").as_uri())
        model_create(name="big")
        for size_mb in (int(s) for s in args.sizes_mb.split(",")):
            key = f"models/big/{size_mb}/model.pt"
            blob = var_dir / "src" / key
            blob.parent.mkdir(parents=True)
            with open(blob, "wb") as out:
                for _ in range(size_mb):
                    out.write(os.urandom(1_000_000))
            version = version_create(model_name="big", version=str(size_mb), fmt="torchscript", region_name="src",
                                     input_schema={"shape": [-1, 4]}, artifact_key=key)
            data = blob.read_bytes()
            out_dir = var_dir / "out"
            times: dict[str, list[float]] = {}

            def fedplane(i: int) -> float:
                target = region_create(name=f"dst-{size_mb}-{i}", store_url=(out_dir / "fedplane").as_uri())
                job = ReplicationJob.objects.create(version=version, source_region=source, verify_checksum=True)
                row = ReplicationTarget.objects.create(job=job, region=target)
                started = time.perf_counter()
                status = replicate_target(row.pk, final_attempt=True)
                elapsed = time.perf_counter() - started
                assert status == "completed", ReplicationTarget.objects.get(pk=row.pk).error
                return elapsed

            def store_copy(i: int) -> float:
                target = store_for((out_dir / "store").as_uri())
                started = time.perf_counter()
                staged = target.stage_copy(store_for(source.store_url), key, verify=True)
                elapsed = time.perf_counter() - started
                assert staged.result.sha256 == version.sha256
                staged.discard()
                return elapsed

            def rclone_copy(i: int) -> float:
                started = time.perf_counter()
                subprocess.run([rclone_path, "copy", "--checksum", "-q", str(blob), str(out_dir / "rclone")],
                               check=True, env={**os.environ, "RCLONE_CONFIG": str(var_dir / "rclone.conf")})
                elapsed = time.perf_counter() - started
                assert (out_dir / "rclone" / blob.name).stat().st_size == len(data)
                return elapsed

            def cp_sha256sum(i: int) -> float:
                (out_dir).mkdir(parents=True, exist_ok=True)
                target = out_dir / "cp.bin"
                started = time.perf_counter()
                subprocess.run(["cp", str(blob), str(target)], check=True)
                digest = subprocess.run(["sha256sum", str(target)], check=True, capture_output=True, text=True)
                elapsed = time.perf_counter() - started
                assert digest.stdout.split()[0] == version.sha256
                return elapsed

            def plain_copy(i: int) -> float:
                out_dir.mkdir(parents=True, exist_ok=True)
                started = time.perf_counter()
                shutil.copyfile(blob, out_dir / "copy.bin")
                return time.perf_counter() - started

            def sha256(i: int) -> float:
                started = time.perf_counter()
                digest = hashlib.sha256(data).hexdigest()
                elapsed = time.perf_counter() - started
                assert digest == version.sha256
                return elapsed

            cases = {"fedplane": fedplane, **({"rclone": rclone_copy} if rclone_path else {}),
                     "store copy only": store_copy, "cp + sha256sum": cp_sha256sum, "plain copy": plain_copy,
                     "sha256": sha256}
            names = list(cases)
            print(f"\n{size_mb} MB artifact, {args.rounds} rounds; before: {load()}")
            for i in range(args.rounds):
                for name in names[i % len(names):] + names[:i % len(names)]:  # each case goes first in turn
                    os.sync()
                    times.setdefault(name, []).append(cases[name](i))
                    shutil.rmtree(out_dir, ignore_errors=True)
            bound = [max(c, h) for c, h in zip(times["plain copy"], times["sha256"])]
            times["hash-bound limit"] = bound
            mb = len(data) / 1e6
            print(f"after: {load()}")
            print(f"{'case':<20}{'best MB/s':>12}{'median MB/s':>14}   per round MB/s")
            for name, values in times.items():
                rounds = " ".join(f"{mb / t:.0f}" for t in values)
                print(f"{name:<20}{mb / min(values):>12.0f}{mb / statistics.median(values):>14.0f}   {rounds}")
            # Ratios of throughput: of the medians, and the median of each round's own ratio (cases of
            # one round ran seconds apart, so a change in the machine's load shifts both).
            for peer, target in (("rclone", 1.0), ("hash-bound limit", 0.8), ("cp + sha256sum", None)):
                if peer not in times:
                    print(f"fedplane / {peer}: not measured ({rclone_about})")
                    continue
                ratio = statistics.median(times[peer]) / statistics.median(times["fedplane"])
                paired = statistics.median(p / f for p, f in zip(times[peer], times["fedplane"]))
                verdict = f" (target >= {target}: {'met' if min(ratio, paired) >= target else 'not met'})" \
                    if target else ""
                print(f"fedplane / {peer}: {ratio:.2f} of medians, {paired:.2f} median of rounds{verdict}")
            blob.unlink()
            del data
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
