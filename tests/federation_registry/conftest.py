"""Fixtures of the registry's tests: a credential holding every federation scope, and a real
HTTP server on 127.0.0.1 (in a thread) that serves remote entries and manifests, or stalls."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fedplane.api.scopes import Scope

FEDERATION_SCOPES = [Scope.FEDERATION_APPLICATIONS_READ, Scope.FEDERATION_APPLICATIONS_WRITE,
                     Scope.FEDERATION_MODULES_DEPLOY, Scope.FEDERATION_CONFIG_MANAGE]

# What webpack 5 emits for `exposes: {"./Button": ..., "./Header": ...}`, shortened: the
# container's module map is keyed by the exposed request.
REMOTE_ENTRY = b"""var remote_app;(()=>{var moduleMap={"./Button":()=>Promise.all([__webpack_require__.e(1)]),
"./Header":()=>Promise.all([__webpack_require__.e(2)])};var get=(module,getScope)=>{};var init=(shareScope,
initScope)=>{};remote_app={get,init};})();"""


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.redirects: dict[str, str] = {}
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path.startswith("/stall"):
                    server.release.wait(30)  # accepts, then never answers until the test ends
                    return
                if path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, content_type, body = server.routes.get(path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, content_type: str = "application/javascript", status: int = 200) -> str:
        self.routes[path] = (status, content_type, body)
        return self.base + path

    def redirect(self, path: str, location: str) -> str:
        self.redirects[path] = location
        return self.base + path

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server():
    server = LocalServer()
    yield server
    server.close()


@pytest.fixture
def mf(api, make_key):
    """The JSON test client authenticated with every federation scope."""
    key, _ = make_key(FEDERATION_SCOPES)
    return api.auth(key)


@pytest.fixture
def make_app(mf):
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, **extra) -> dict:
        body = {"name": name or f"shell{next(counter)}", "host": "http://localhost:3000", "version": "1.0.0",
                "framework": "react", **extra}
        response = mf.post("/api/v1/federation/applications", body)
        assert response.status_code == 201, response.content
        return response.json()["data"]
    return make


@pytest.fixture
def make_module(mf):
    def make(app_id: str, name: str, url: str = "http://127.0.0.1:9/remoteEntry.js", **extra) -> dict:
        response = mf.post("/api/v1/federation/modules", {"name": name, "url": url, "applicationId": app_id, **extra})
        assert response.status_code == 201, response.content
        return response.json()["data"]
    return make
