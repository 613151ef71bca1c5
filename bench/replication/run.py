"""Replication throughput with sha256 verification vs a plain file copy of the same artifact.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/replication/run.py             # about 30 s
    python bench/replication/run.py --size-mb 100 --rounds 3

In one process, on a throwaway embedded deployment (FEDPLANE_VAR_DIR in a temp dir): two
regions with local fsspec stores, a version whose artifact is `--size-mb` of random bytes
in the source store, then, interleaved over `--rounds`:
- **replication**: `regions.services.replication.replicate_target` (what the Celery task runs):
  streams source -> target in REGIONS_REPLICATION_CHUNK_BYTES chunks hashing as it goes,
  reads what landed back and hashes it, compares with the version's sha256, moves it into place;
- **plain copy**: `shutil.copyfile` of the same file to a fresh path (no hashing; the kernel copies);
- **streamed copy**: the same bytes through a Python read/write loop (no hashing), for reference.
Before each measurement `os.sync()` writes dirty pages back, and the two take turns going first:
otherwise whichever writes when the kernel starts throttling writers is measured at disk speed.
Prints MB/s of each (best and median), and the ratio replication/copy.

Target (issue 5): replication with verification at least 0.8 of the plain copy.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="fedplane-bench-repl-"))
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update({"FEDPLANE_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "fedplane.settings",
                       "LOG_LEVEL": "WARNING"})
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    from regions.models import ReplicationJob, ReplicationTarget
    from regions.services.registry import model_create, version_create
    from regions.services.regions import region_create
    from regions.services.replication import replicate_target

    try:
        call_command("migrate", verbosity=0)
        source = region_create(name="src", store_url=(var_dir / "src").as_uri())
        key = "models/big/1/model.onnx"
        blob = var_dir / "src" / key
        blob.parent.mkdir(parents=True)
        with open(blob, "wb") as out:
            for _ in range(args.size_mb):
                out.write(os.urandom(1 << 20))
        model_create(name="big")
        version = version_create(model_name="big", version="1", fmt="torchscript", region_name="src",
                                 input_schema={"shape": [-1, 4]}, artifact_key=key)
        size = blob.stat().st_size
        repl, copy, stream = [], [], []

        def replicate(i: int) -> float:
            target = region_create(name=f"dst-{i}", store_url=(var_dir / f"dst-{i}").as_uri())
            job = ReplicationJob.objects.create(version=version, source_region=source, verify_checksum=True)
            row = ReplicationTarget.objects.create(job=job, region=target)
            started = time.perf_counter()
            assert replicate_target(row.pk, final_attempt=True) == "completed"
            return time.perf_counter() - started

        def streamed_copy(i: int) -> float:
            buffer = bytearray(8 << 20)
            view = memoryview(buffer)
            started = time.perf_counter()
            with open(blob, "rb") as src, open(var_dir / f"stream-{i}.bin", "wb") as out:
                while n := src.readinto(buffer):
                    out.write(view[:n])
            return time.perf_counter() - started

        def plain_copy(i: int) -> float:
            started = time.perf_counter()
            shutil.copyfile(blob, var_dir / f"copy-{i}.bin")
            return time.perf_counter() - started

        for i in range(args.rounds):
            # Both start with no dirty pages to write back (the kernel throttles whoever writes when
            # they pile up), and they take turns going first.
            cases = [(repl, replicate), (copy, plain_copy), (stream, streamed_copy)]
            for times, run in (cases if i % 2 == 0 else cases[::-1]):
                os.sync()
                times.append(run(i))
        mb = size / 1e6
        print(f"artifact: {mb:.0f} MB, {args.rounds} rounds, chunk {os.environ.get('REGIONS_REPLICATION_CHUNK_BYTES', '8 MiB')}")
        print(f"{'case':<34}{'best MB/s':>12}{'median MB/s':>14}")
        for name, times in (("replication (sha256 verified)", repl), ("plain copy (shutil.copyfile)", copy),
                            ("streamed copy (read/write loop)", stream)):
            print(f"{name:<34}{mb / min(times):>12.1f}{mb / statistics.median(times):>14.1f}")
        ratio = statistics.median(copy) / statistics.median(repl)
        print(f"ratio replication/copy (median): {ratio:.2f} (target >= 0.80: {'met' if ratio >= 0.8 else 'not met'})")
        print(f"ratio replication/streamed copy (median): {statistics.median(stream) / statistics.median(repl):.2f}")
        digest, block = hashlib.sha256(), os.urandom(8 << 20)
        started = time.perf_counter()
        for _ in range(25):
            digest.update(block)
        print(f"sha256 alone on this machine: {25 * 8 * 1.048576 / (time.perf_counter() - started):.0f} MB/s "
              "(a verified copy reads every byte back through it)")
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
