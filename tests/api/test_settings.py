"""Settings from the environment: production refuses to start without SECRET_KEY;
the embedded default generates one into the var directory on first run and keeps it."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

from tests.support.processes import ROOT

SETUP = "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'fedplane.settings'; django.setup()"
PRINT_KEY = SETUP + "; from django.conf import settings; print(settings.SECRET_KEY)"


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FEDPLANE_ENV", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_production_without_secret_key_refuses_to_start(tmp_path):
    result = _run(SETUP, FEDPLANE_ENV="production", FEDPLANE_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists(), "production never invents a key"


def test_embedded_mode_generates_a_secret_key_once_and_keeps_it(tmp_path):
    first = _run(PRINT_KEY, FEDPLANE_ENV="embedded", FEDPLANE_VAR_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == first.stdout.strip() and len(first.stdout.strip()) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, "only the owner may read the key"
    second = _run(PRINT_KEY, FEDPLANE_ENV="embedded", FEDPLANE_VAR_DIR=str(tmp_path))
    assert second.stdout == first.stdout, "restarts keep the key (sessions and tokens stay valid)"
