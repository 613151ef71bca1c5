"""Hot reload through a real ASGI server: POST /runtime/{id}/reload reaches a real WebSocket
client subscribed on /federation/events, with moduleId and clearCache."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from .conftest import FEDERATION_SCOPES

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


async def _until(ws, predicate, timeout: float) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if predicate(message):
                return message


def test_reload_event_reaches_a_subscribed_shell(live_server_url, make_key):
    key, _ = make_key(FEDERATION_SCOPES)
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=f"{live_server_url}/api/v1/federation", headers=headers, timeout=10) as http:
        app = http.post("/applications", json={"name": "liveshell", "host": "http://localhost:3000",
                                                "version": "1.0.0", "framework": "react"}).json()["data"]
        module = http.post("/modules", json={"applicationId": app["id"], "name": "cart",
                                             "url": "http://cdn.local/cart/remoteEntry.js"}).json()["data"]

        async def scenario():
            ws_url = live_server_url.replace("http://", "ws://") + f"/federation/events?api_key={key}"
            async with websockets.connect(ws_url) as ws:
                await ws.send(json.dumps({"action": "subscribe", "events": ["module.reload"],
                                          "filters": {"applicationId": app["id"]}}))
                assert json.loads(await ws.recv())["event"] == "subscribed"
                response = await asyncio.to_thread(http.post, f"/runtime/{app['id']}/reload",
                                                   json={"moduleId": module["id"], "clearCache": True})
                assert response.status_code == 202, response.text
                return await _until(ws, lambda m: m.get("event") == "module.reload", 10)

        event = asyncio.run(scenario())
    assert event["system"] == "federation"
    assert event["data"]["moduleId"] == module["id"] and event["data"]["clearCache"] is True
    assert event["data"]["entry"].startswith("http://cdn.local/cart/remoteEntry.js?v=")
