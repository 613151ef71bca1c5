"""In Debian's headless Chromium: an operator logs in to the admin, opens the dashboard, starts a
training on real Flower clients with the admin action in another tab, and the dashboard's charts
gain one point per completed round, live over the WebSocket, without the page reloading."""
from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest

from tests.support.fl import start_execution, wait_for_round, wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(900)]

ROUNDS = 3
# How long after the round's completion (server clock) its point may reach the page.
LIVE_WITHIN_SECONDS = 5.0


def _wait(driver, condition, timeout: float, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(), message=message)


def _js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def _connection_state(driver) -> str | None:
    # Null while the page after the login redirect is still loading; a wait must not stop on it.
    return _js(driver, "return document.getElementById('connection')?.dataset.state ?? null")


def _log_in(driver, base: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/dashboard/")
    assert "/admin/login/" in driver.current_url and "next=/dashboard/" in driver.current_url
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _wait(driver, lambda: driver.current_url.endswith("/dashboard/")
          and _js(driver, "return document.readyState") == "complete", 30, "back on the dashboard after login")


def _start_training_from_admin(driver, base: str, client_ids: list[str]) -> str:
    """The FLClient changelist action `start_training`, through its intermediate form."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(f"{base}/admin/flcore/flclient/")
    for client_id in client_ids:
        driver.find_element(By.CSS_SELECTOR, f'input.action-select[value="{client_id}"]').click()
    Select(driver.find_element(By.NAME, "action")).select_by_value("start_training")
    driver.find_element(By.NAME, "index").click()
    rounds = _wait(driver, lambda: driver.find_elements(By.NAME, "rounds"), 30, "the action's form")[0]
    assert '"config"' in driver.find_element(By.NAME, "config").get_attribute("value")  # prefilled
    rounds.clear()
    rounds.send_keys(str(ROUNDS))
    driver.find_element(By.NAME, "apply").click()
    match = _wait(driver, lambda: re.search(r"/trainingexecution/([^/]+)/change/", driver.current_url), 30,
                  "redirected to the new execution")
    return match.group(1)


def _chart(driver, kind: str, execution_id: str) -> dict | None:
    return _js(driver, """
        const canvas = document.getElementById(arguments[0] + '-' + arguments[1]);
        if (!canvas) return null;
        const chart = Chart.getChart(canvas);
        return {points: Number(canvas.dataset.points), labels: chart.data.labels,
                values: chart.data.datasets[0].data};""", kind, execution_id)


def test_dashboard_charts_gain_a_point_per_round_live(driver, fl_server_url, fl_http, fl_worker, join_clients,
                                                       digits, make_user):
    base = fl_server_url
    vendor = httpx.get(f"{base}/static/dashboard/vendor/chart.umd.min.js", timeout=10)
    assert vendor.status_code == 200 and "javascript" in vendor.headers["content-type"]
    paths, _ = digits
    clients = join_clients(paths[:2])
    operator = make_user(superuser=True)

    _log_in(driver, base, operator.username, "pw-for-tests-1")
    _wait(driver, lambda: _connection_state(driver) == "live",
          60, "dashboard subscribed on the WebSocket")
    assert _js(driver, "return typeof Chart === 'function' && typeof cytoscape === 'function'")
    _js(driver, "window.__sameDocument = 'dashboard-1'")  # gone if the page ever reloads
    dashboard_tab = driver.current_window_handle

    driver.switch_to.new_window("tab")
    execution_id = _start_training_from_admin(driver, base, [c.id for c in clients])
    driver.close()
    driver.switch_to.window(dashboard_tab)

    _wait(driver, lambda: _chart(driver, "loss", execution_id), 120, "the new execution's card appears")
    seen: list[int] = []

    def points() -> int:
        count = _chart(driver, "loss", execution_id)["points"]
        if not seen or seen[-1] != count:
            seen.append(count)
        return count

    _wait(driver, lambda: points() >= ROUNDS, 600, f"{ROUNDS} points on the loss chart")
    assert seen == list(range(seen[0], ROUNDS + 1)), f"one point per round, got counts {seen}"
    final = wait_for_status(fl_http, execution_id, timeout=120)
    assert final["status"] == "completed", final
    _wait(driver, lambda: _js(driver, "return document.getElementById('execution-' + arguments[0])"
                                      ".dataset.status", execution_id) == "completed", 30, "card shows completed")

    # Same document all along: no reload, no navigation.
    assert _js(driver, "return window.__sameDocument") == "dashboard-1"
    assert _js(driver, "return performance.getEntriesByType('navigation')[0].type") == "navigate"

    rounds = fl_http.get(f"/fl/executions/{execution_id}/rounds", params={"limit": 100}).json()["data"]
    assert [r["roundNumber"] for r in rounds] == list(range(1, ROUNDS + 1))
    loss, accuracy, participation = (_chart(driver, kind, execution_id) for kind in ("loss", "accuracy", "clients"))
    assert loss["labels"] == accuracy["labels"] == participation["labels"] == list(range(1, ROUNDS + 1))
    assert loss["values"] == pytest.approx([r["metrics"]["evaluate"]["eval-loss"] for r in rounds])
    assert accuracy["values"] == pytest.approx([r["metrics"]["evaluate"]["eval-accuracy"] for r in rounds])
    assert participation["values"] == [len(r["participatingClients"]) for r in rounds] == [2] * ROUNDS

    # Each point arrived over the socket (after the page loaded) within seconds of its round.
    loaded_ms = _js(driver, "return performance.timeOrigin")
    received = _js(driver, "return window.fedplaneDashboard.received[arguments[0]]", execution_id)
    for r in rounds:
        completed_ms = datetime.fromisoformat(r["completedAt"].replace("Z", "+00:00")).timestamp() * 1000
        arrived_ms = received[str(r["roundNumber"])]
        assert arrived_ms > loaded_ms
        lag = (arrived_ms - completed_ms) / 1000
        assert -1.0 < lag < LIVE_WITHIN_SECONDS, f"round {r['roundNumber']} drawn {lag:.2f}s after it completed"
    assert _js(driver, "return document.getElementById('errors').hidden"), \
        _js(driver, "return document.getElementById('errors').textContent")


def _graph_ids(fl_http) -> set[str]:
    graph = fl_http.get("/integration/dependencies", params={"view": "graph", "depth": 2}).json()["data"]
    return {n["id"] for n in graph["nodes"]}


def test_dashboard_resumes_after_the_socket_drops_and_draws_the_dependency_graph(
        driver, fl_server_url, fl_http, fl_worker, join_clients, digits, make_user):
    app = fl_http.post("/federation/applications", json={"name": "dashshell", "host": "http://localhost:3000",
                                                         "version": "1.0.0", "framework": "react"}).json()["data"]
    fl_http.post("/federation/modules", json={"applicationId": app["id"], "name": "cart",
                                              "url": "http://cdn.local/cart/remoteEntry.js"}).raise_for_status()
    paths, _ = digits
    clients = join_clients(paths[:2])
    operator = make_user(superuser=True)
    _log_in(driver, fl_server_url, operator.username, "pw-for-tests-1")
    _wait(driver, lambda: _connection_state(driver) == "live",
          60, "dashboard subscribed on the WebSocket")

    # The graph: Cytoscape holds the API's nodes (the application and its module among them).
    def drawn() -> set[str]:
        return set(_js(driver, "const cy = window.fedplaneDashboard.state.cy;"
                               "return cy ? cy.nodes().map((n) => n.id()) : []"))

    _wait(driver, lambda: drawn() and drawn() == _graph_ids(fl_http), 40, "dependency graph drawn")
    assert f"application:{app['id']}" in drawn()

    execution = start_execution(fl_http, clients, rounds=ROUNDS)

    def points() -> int:
        return (_chart(driver, "loss", execution["id"]) or {"points": 0})["points"]

    _wait(driver, lambda: points() >= 1, 300, "round 1 drawn")
    assert points() == 1
    # The network goes away: the socket closes and reconnecting fails until it is back.
    last_seen, resumes = _js(driver, """
        window.__RealWebSocket = window.WebSocket;
        window.WebSocket = function () { throw new Error('offline (test)'); };
        const state = window.fedplaneDashboard.state;
        state.socket.close();
        return [state.lastEventId, state.resumedFrom.length];""")
    wait_for_round(fl_http, execution["id"], 2)
    assert points() == 1  # round 2 completed while the page was offline
    assert _connection_state(driver) == "reconnecting"
    _js(driver, "window.WebSocket = window.__RealWebSocket")

    _wait(driver, lambda: points() >= ROUNDS, 300, "missed and later rounds drawn after reconnecting")
    assert wait_for_status(fl_http, execution["id"], timeout=120)["status"] == "completed"
    loss = _chart(driver, "loss", execution["id"])
    assert loss["labels"] == list(range(1, ROUNDS + 1)) and loss["points"] == ROUNDS  # nothing drawn twice
    # The new socket asked for what followed the last event the page had seen.
    assert _js(driver, "return window.fedplaneDashboard.state.resumedFrom")[resumes:][0] == last_seen
