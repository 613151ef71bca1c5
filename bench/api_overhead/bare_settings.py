"""The bare baseline of bench/api_overhead: fedplane's settings, no middleware, one view.

Same apps, database, cache and DEBUG as the full stack; only the request pipeline
differs (no DRF, no authentication, no throttle, no audit, no middleware at all).
"""
from fedplane.settings import *  # noqa: F401,F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.api_overhead.bare_urls"
