"""In CI the suite runs against the real services: PostgreSQL and Redis."""
from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection


@pytest.mark.skipif(not os.environ.get("CI"), reason="outside CI the embedded default is allowed")
def test_ci_runs_against_postgresql_and_redis():
    assert connection.vendor == "postgresql", (
        f"CI must test against PostgreSQL, not {connection.vendor}: run scripts/test without "
        "FEDPLANE_TEST_BACKEND=embedded")
    assert settings.REDIS_URL, "CI must test against Redis: REDIS_URL is not set"
