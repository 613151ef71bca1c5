"""Shared-version resolution time: 200 applications sharing 100 packages, mixed ranges.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/resolve/run.py          # a few seconds

Builds a deterministic workload (seeded): each of 200 applications provides and
consumes each of 100 packages at one of 6 versions per package (patch, minor and major
steps plus a pre-release), with requiredVersion drawn from `^`, `~`, `x`, `||`, hyphen
and exact forms; a third of the packages are singletons, a few strict. Times
`federation_registry.services.resolution.resolve` (the pure simulation the endpoint
runs; the endpoint adds two queries) cold (empty semver caches) and warm, for the
`mf2` and `webpack` runtimes, and prints the median of the runs and the counts of
warnings, errors and conflicts. Target: under 200 ms.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from federation_registry.services import semver, semver_mf2, semver_webpack  # noqa: E402
from federation_registry.services.resolution import ShareEntry, resolve  # noqa: E402

TARGET_MS = 200.0
VERSIONS = ["1.0.0", "1.2.3", "1.4.0", "2.0.0-beta.1", "2.0.0", "2.1.5"]


def _range(rng: random.Random, version: str) -> str:
    major, minor, patch = version.split("-")[0].split(".")
    return rng.choice([f"^{version}", f"~{major}.{minor}.0", f"{major}.x", f"^1.0.0 || ^{major}.0.0",
                       f"{major}.0.0 - {major}.9.9", version, f">={major}.0.0-0 <{int(major) + 1}.0.0"])


def workload(apps: int, packages: int, seed: int) -> list[tuple[str, list[ShareEntry]]]:
    rng = random.Random(seed)
    kinds = {f"pkg-{p:03d}": (p % 3 == 0, p % 17 == 0) for p in range(packages)}  # singleton, strict
    plan = []
    for a in range(apps):
        name = f"app-{a:03d}"
        entries = []
        for package, (singleton, strict) in kinds.items():
            version = rng.choice(VERSIONS)
            entries.append(ShareEntry(application=name, package=package, version=version,
                                      required_version=_range(rng, version), singleton=singleton,
                                      strict_version=strict if strict else None, eager=False))
        plan.append((name, entries))
    return plan


def clear_caches() -> None:
    # resolution evaluates with each runtime's own semver (R13); npm's is kept for validation
    for fn in (semver._semver, semver._range, semver.satisfies, semver.version_lt, semver_mf2.satisfies,
               semver_mf2.version_lt, semver_mf2.comparators, semver_webpack.satisfies, semver_webpack.version_lt,
               semver_webpack._parse_version, semver_webpack._parse_range):
        fn.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    plan = workload(args.apps, args.packages, args.seed)
    print(f"{args.apps} applications x {args.packages} packages = {args.apps * args.packages} consumers")
    for runtime in ("mf2", "webpack"):
        cold, warm = [], []
        for _ in range(args.runs):
            clear_caches()
            t0 = time.perf_counter()
            result = resolve(plan, runtime=runtime)
            cold.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            result = resolve(plan, runtime=runtime)
            warm.append((time.perf_counter() - t0) * 1e3)
        warnings = sum(len(d.warnings) for d in result.decisions)
        errors = sum(len(d.errors) for d in result.decisions)
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"runtime={runtime:8} cold {c:7.1f} ms  warm {w:7.1f} ms  (target < {TARGET_MS:g} ms: "
              f"{'met' if c < TARGET_MS else 'NOT met'} cold, {'met' if w < TARGET_MS else 'NOT met'} warm)  "
              f"warnings {warnings}, errors {errors}, conflicts {len(result.conflicts)}")


if __name__ == "__main__":
    main()
