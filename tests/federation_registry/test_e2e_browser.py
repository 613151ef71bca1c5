"""End to end in a real browser: a webpack 5 shell whose remotes come from fedplane's
runtime endpoint at startup renders the real `catalog` remote (and so does a shell on the
MF 2.0 runtime's init/loadRemote); after a blue-green switch in fedplane a reload shows
the new version; a hot-reload event reaches the page."""
from __future__ import annotations

import httpx
import pytest

from tests.support.processes import wait_until

from .conftest import FEDERATION_SCOPES
from .e2e_support import StaticServer, browser, build, missing_tools

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def frontends(tmp_path_factory):
    missing = missing_tools()
    if missing:  # scripts/test installs them; a bare checkout without them cannot run this
        pytest.skip(f"browser e2e needs {', '.join(missing)} (scripts/test installs them)")
    dist = build(tmp_path_factory.mktemp("mf-e2e"), ("1.0.0", "2.0.0"))
    server = StaticServer(dist)
    yield server.base
    server.close()


def _attr(driver, name: str):
    return driver.execute_script(f"return document.body.dataset.{name} || null")


def test_shell_renders_remote_follows_blue_green_and_receives_hot_reload(frontends, live_server_url, make_key):
    key, _ = make_key(FEDERATION_SCOPES)
    fed = httpx.Client(base_url=f"{live_server_url}/api/v1/federation", headers={"X-API-Key": key}, timeout=15)
    app = fed.post("/applications", json={"name": "e2eshell", "host": frontends, "version": "1.0.0",
                                          "framework": "react"}).json()["data"]
    module = fed.post("/modules", json={"applicationId": app["id"], "name": "catalog",
                                        "url": f"{frontends}/catalog-1.0.0/remoteEntry.js", "version": "1.0.0",
                                        "exposedModules": ["./Widget"]}).json()["data"]
    assert fed.post("/dependencies", json={"package": "mf-e2e-lib", "version": "1.0.0", "singleton": True,
                                           "applications": [app["id"]]}).status_code == 201
    loaded = fed.post(f"/modules/{module['id']}/load", json={"targetApplication": "e2eshell"})
    assert loaded.status_code == 200, loaded.text  # fedplane itself fetched the built remote entry

    page = (f"{frontends}/shell/index.html?api={live_server_url}&app={app['id']}&env=production"
            f"&clientId=browser-1&key={key}")
    driver = browser()
    try:
        def rendered(version: str):
            error = _attr(driver, "error")
            assert error is None, error
            text = driver.execute_script("var e = document.getElementById('remote-catalog');"
                                         "return e ? e.textContent : null")
            return text if text and f"v{version}" in text else None

        driver.get(page)
        text = wait_until(lambda: rendered("1.0.0"), timeout=30, message="shell renders catalog v1.0.0")
        assert "shared lib call" in text  # the remote used the shared singleton

        # The same runtime document through the MF 2.0 runtime's init + loadRemote.
        driver.get(page.replace("/shell/index.html", "/shell-mf2/index.html"))
        text = wait_until(lambda: rendered("1.0.0"), timeout=30, message="MF 2.0 shell renders catalog v1.0.0")
        assert "shared lib call" in text
        driver.get(page)
        wait_until(lambda: rendered("1.0.0"), timeout=30, message="shell renders catalog v1.0.0 again")

        deployed = fed.post(f"/applications/{app['id']}/deploy", json={
            "environment": "production", "strategy": "blue-green",
            "config": {"modules": [{"moduleId": module["id"], "version": "2.0.0",
                                    "url": f"{frontends}/catalog-2.0.0/remoteEntry.js"}]}})
        assert deployed.status_code == 202 and deployed.json()["data"]["status"] == "completed"
        driver.refresh()
        wait_until(lambda: rendered("2.0.0"), timeout=30, message="shell renders catalog v2.0.0 after the switch")

        wait_until(lambda: _attr(driver, "subscribed"), timeout=20, message="shell subscribed to /federation/events")
        reload = fed.post(f"/runtime/{app['id']}/reload", json={"moduleId": module["id"], "clearCache": True})
        assert reload.status_code == 202, reload.text
        got = wait_until(lambda: _attr(driver, "reloaded"), timeout=20, message="hot-reload event reaches the page")
        assert got == f"{module['id']}:true"
    finally:
        driver.quit()
        fed.close()
