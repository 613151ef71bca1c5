"""POST /dependencies/resolve with many application ids: wall time and peak memory of one request.

A benchmark, not a test: it measures and prints, it never fails a build.

    source scripts/setup.sh && python bench/resolve/endpoint.py               # about a minute
    python bench/resolve/endpoint.py --ids 10000 --apps 20 --packages 10

Builds a registry in a fresh SQLite database under a temporary var directory: `--apps`
applications, `--packages` shared packages each provided by every application at one of
two versions (half of the packages singletons, so conflicts are reported), then sends
one request whose `applications` list holds `--ids` ids (the applications repeated, as a
fuzzer or a buggy client sends them) through Django's test client, in process, after a warm-up request naming one: the
figure is the view, the services and the JSON rendering, without a network. Peak memory
is the growth of the process's maximum resident set during the request. The endpoint's
maximum (FEDERATION_RESOLVE_MAX_APPLICATIONS) is raised to --ids for the run, so the
work is measured rather than refused.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ids", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--packages", type=int, default=10)
    args = parser.parse_args()
    os.environ["FEDPLANE_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-resolve-")
    os.environ["FEDERATION_RESOLVE_MAX_APPLICATIONS"] = str(max(args.ids, 1))
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from fedplane.api.services import api_key_issue
    from federation_registry.models import Application, SharedDependency

    user = get_user_model().objects.create_user("bench", password="bench-password-1", is_superuser=True)
    _, key = api_key_issue(user=user, name="bench", scopes=["federation:applications:read"])
    apps = Application.objects.bulk_create(
        Application(name=f"app-{a:03d}", host="http://localhost", version="1.0.0", framework="react")
        for a in range(args.apps))
    for p in range(args.packages):
        for major, members in ((1, apps[::2]), (2, apps[1::2])):
            dep = SharedDependency.objects.create(package=f"pkg-{p:03d}", version=f"{major}.0.0",
                                                  singleton=p % 2 == 0, required_version=f"^{major}.0.0")
            dep.applications.set(members)
    ids = [str(apps[i % len(apps)].pk) for i in range(args.ids)]
    client = Client()
    # Warm-up with one id: the first request of a process imports and builds what later ones reuse.
    client.post("/api/v1/federation/dependencies/resolve", {"applications": ids[:1]},
                content_type="application/json", HTTP_X_API_KEY=key)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.post("/api/v1/federation/dependencies/resolve", {"applications": ids},
                           content_type="application/json", HTTP_X_API_KEY=key)
    elapsed = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    body = response.json()
    answered = len(body["data"]["applications"]) if response.status_code == 200 else body["error"]["message"]
    print(f"{args.ids} ids ({args.apps} applications x {args.packages} packages): HTTP {response.status_code} "
          f"in {elapsed:.2f} s, peak RSS +{grown_mb:.0f} MB, {len(response.content) / 1e6:.1f} MB of JSON, "
          f"applications answered: {answered}")


if __name__ == "__main__":
    main()
