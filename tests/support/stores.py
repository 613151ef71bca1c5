"""Tests keep regions' artifact stores in pytest's temporary directories (`tmp_path`), outside the
default REGIONS_STORE_ALLOWED_ROOTS (the var directory): these roots allow them, in this process
(the `settings` fixture) and in the servers and workers tests start (the environment they copy)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings

__all__ = ["TEST_STORE_ROOTS", "allow_temp_stores_in_child_processes"]

_TEMP = Path(tempfile.gettempdir()).resolve()  # where pytest's basetemp is, unless --basetemp moves it
TEST_STORE_ROOTS = [*settings.REGIONS_STORE_ALLOWED_ROOTS, _TEMP.as_uri(), f"flaky://{_TEMP}"]


def allow_temp_stores_in_child_processes() -> None:
    """Call at import time of a conftest, before a session fixture copies the environment."""
    os.environ.setdefault("REGIONS_STORE_ALLOWED_ROOTS", ",".join(TEST_STORE_ROOTS))
