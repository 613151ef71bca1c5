"""The dashboard's npm-built vendor files must exist before any server process starts (WhiteNoise
indexes static files at start-up). scripts/setup.sh builds them; scripts/test installs npm only
after sourcing it on a fresh machine, so build them here, at collection, when they are missing.
Also the browser the dashboard's browser tests drive."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[2] / "fedplane" / "dashboard" / "frontend" / "build.sh"
VENDOR = BUILD.parent.parent / "static" / "dashboard" / "vendor"


def pytest_configure(config):
    wanted = ("chart.umd.min.js", "cytoscape.min.js")
    if shutil.which("npm") and not all((VENDOR / name).exists() for name in wanted):
        subprocess.run(["bash", str(BUILD)], check=True, timeout=300)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Installed before any page script runs: every Content-Security-Policy violation a page causes.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(
    {directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber}));"""


@pytest.fixture
def driver():
    """Debian's headless Chromium; its console is kept (`driver.get_log("browser")`) and each page
    records its CSP violations in `window.__cspViolations`."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip)")
    if missing:  # scripts/test apt-installs chromium and chromium-driver; CI must not skip
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"needs {', '.join(missing)}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_CSP_VIOLATIONS})
    yield browser
    browser.quit()
