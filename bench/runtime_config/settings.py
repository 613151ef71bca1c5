"""fedplane's settings, plus one route serving a static file, so the benchmark compares
the shell runtime endpoint with a static file served by the same server stack."""
from fedplane.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.runtime_config.urls"
