"""In headless Chromium, under the site's Content-Security-Policy: the login page, the admin, the
dashboard and the API docs load without a CSP violation, a console error or a failed resource
(a 404 /favicon.ico included), and the docs list the API's operations."""
from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def _wait(driver, condition, timeout: float, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(), message=message)


def _loaded(driver) -> bool:
    return driver.execute_script("return document.readyState") == "complete"


def _problems(driver) -> list:
    """This page's CSP violations, then every console error since the last call (failed loads too)."""
    violations = driver.execute_script("return window.__cspViolations || []")
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return violations + errors


def test_pages_load_without_csp_violations_or_failed_resources(driver, live_server_url, make_user):
    from selenium.webdriver.common.by import By

    base = live_server_url
    favicon = httpx.get(f"{base}/favicon.ico", timeout=10)
    assert favicon.status_code == 200 and favicon.headers["content-type"] == "image/x-icon"
    operator = make_user(superuser=True)
    seen = {}

    driver.get(f"{base}/dashboard/")  # the login page, which a fresh browser loads with its favicon
    _wait(driver, lambda: "/admin/login/" in driver.current_url and _loaded(driver), 30, "the login page")
    seen["login"] = _problems(driver)
    driver.find_element(By.NAME, "username").send_keys(operator.username)
    driver.find_element(By.NAME, "password").send_keys("pw-for-tests-1")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

    # The dashboard once its socket is live and every panel has been drawn (Cytoscape's graph too).
    _wait(driver, lambda: driver.current_url.endswith("/dashboard/") and _loaded(driver), 30, "the dashboard")
    _wait(driver, lambda: driver.execute_script(
        "const s = window.fedplaneDashboard && window.fedplaneDashboard.state;"
        "return !!(s && s.cy) && document.getElementById('connection').dataset.state === 'live'"
        " && document.getElementById('health-overall').textContent !== 'loading…'"
        " && document.querySelector('#clients-table tbody') !== null"), 60, "dashboard panels drawn")
    seen["dashboard"] = _problems(driver)
    graph_position = driver.execute_script("return getComputedStyle(document.getElementById('graph')).position")

    for name, path in (("admin", "/admin/"), ("admin changelist", "/admin/flcore/flclient/")):
        driver.get(f"{base}{path}")
        _wait(driver, lambda: _loaded(driver), 30, name)
        seen[name] = _problems(driver)

    driver.get(f"{base}/api/docs/")
    _wait(driver, lambda: driver.execute_script("return document.querySelectorAll('.opblock').length") > 50,
          90, "Swagger UI lists the operations")
    seen["docs"] = _problems(driver)
    title = driver.execute_script("return document.querySelector('.info .title').textContent")

    assert seen == {name: [] for name in seen}
    assert graph_position == "relative"  # Cytoscape's own rule applied (its <style>, let in by its hash)
    assert title.startswith("fedplane API")
