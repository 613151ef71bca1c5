"""The client's API calls survive a server that drops a connection without answering."""
from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest

from flcore.client.api import FedplaneApi


class DroppingServer:
    """Answers HTTP on loopback, but closes the first `drops` connections without a response
    (what a server does to a keep-alive connection it times out as the client reuses it)."""

    def __init__(self, drops: int) -> None:
        self.drops, self.requests = drops, []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536).decode()
                self.requests.append(request.split(" ", 2)[:2])
                if self.drops > 0:
                    self.drops -= 1
                    continue  # closed with no response
                body = json.dumps({"success": True, "data": {"status": "active"}}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dropping():
    servers = []

    def make(drops: int) -> DroppingServer:
        servers.append(DroppingServer(drops))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def test_a_heartbeat_is_sent_again_after_a_dropped_connection(dropping):
    server = dropping(drops=2)
    api = FedplaneApi(server.url, "key", timeout=5)
    assert api.set_status("c1", "active") == {"status": "active"}
    assert [r[0] for r in server.requests] == ["PUT", "PUT", "PUT"]


def test_a_registration_is_not_sent_twice(dropping):
    server = dropping(drops=1)
    api = FedplaneApi(server.url, "key", timeout=5)
    with pytest.raises(httpx.RemoteProtocolError):
        api.register(name="c1")
    assert [r[0] for r in server.requests] == ["POST"]
