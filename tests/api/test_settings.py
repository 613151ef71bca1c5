"""Settings from the environment: production refuses to start without SECRET_KEY;
the embedded default generates one into the var directory on first run and keeps it;
production's HTTPS settings are what Django's deploy check asks for."""
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


def test_the_deploy_check_lists_nothing_under_production_settings(tmp_path):
    """Django's SecurityMiddleware and clickjacking middleware are installed and the SECURE_* settings
    default to what `check --deploy` asks for in production (it builds the OpenAPI schema too)."""
    secret = "k" + "".join(chr(97 + (i * 7) % 26) for i in range(63))
    result = _run("import sys; from django.core.management import execute_from_command_line; "
                  "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
                  FEDPLANE_ENV="production", SECRET_KEY=secret, FEDPLANE_VAR_DIR=str(tmp_path),
                  DJANGO_SETTINGS_MODULE="fedplane.settings", ALLOWED_HOSTS="api.example.com")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_https_is_enforced_as_production_sets_it_except_for_probes(settings):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = 31536000, True
    settings.SECURE_HSTS_PRELOAD = True
    client = Client()  # built after the settings: the middleware reads them when the handler loads
    redirected = client.get("/api/v1/auth/me")
    assert redirected.status_code == 301 and redirected["Location"] == "https://testserver/api/v1/auth/me"
    assert redirected["X-Request-ID"]  # the redirect goes through the platform's own middleware too
    for probe in ("/livez", "/v2/health/live"):
        assert client.get(probe).status_code == 200
    secure = client.get("/admin/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure["X-Frame-Options"] == "DENY" and secure["Referrer-Policy"] == "same-origin"
    assert secure["Cross-Origin-Opener-Policy"] == "same-origin"
    assert secure["Content-Security-Policy"] == "default-src 'self'"
