"""The dashboard's npm-built vendor files must exist before any server process starts (WhiteNoise
indexes static files at start-up). scripts/setup.sh builds them; scripts/test installs npm only
after sourcing it on a fresh machine, so build them here, at collection, when they are missing."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

BUILD = Path(__file__).resolve().parents[2] / "fedplane" / "dashboard" / "frontend" / "build.sh"
VENDOR = BUILD.parent.parent / "static" / "dashboard" / "vendor"


def pytest_configure(config):
    wanted = ("chart.umd.min.js", "cytoscape.min.js")
    if shutil.which("npm") and not all((VENDOR / name).exists() for name in wanted):
        subprocess.run(["bash", str(BUILD)], check=True, timeout=300)
