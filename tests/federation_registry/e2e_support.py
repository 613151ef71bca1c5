"""Build the e2e shell and remote with webpack 5 (npm packages cached under var/), serve
them from a local HTTP server thread, and drive Debian's Chromium with Selenium."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_SOURCES = Path(__file__).resolve().parent / "e2e_app"
TOOLS = ROOT / "var" / "mf-e2e"  # npm packages, kept between runs
NPM_PACKAGES = ("webpack@5.112.2", "webpack-cli@7.3.1", "@module-federation/runtime@2.9.2")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

__all__ = ["missing_tools", "build", "StaticServer", "browser"]


def missing_tools() -> list[str]:
    missing = [name for name in ("node", "npm") if shutil.which(name) is None]
    missing += [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    return missing


def _npm_install() -> Path:
    modules = TOOLS / "node_modules"
    wanted = ("webpack", "webpack-cli", "@module-federation/runtime")
    if not all((modules / name / "package.json").exists() for name in wanted):
        TOOLS.mkdir(parents=True, exist_ok=True)
        (TOOLS / "package.json").write_text('{"private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", *NPM_PACKAGES], cwd=TOOLS, check=True,
                       capture_output=True, timeout=600)
    return modules


def build(out: Path, remote_versions: tuple[str, ...]) -> Path:
    """dist/shell, dist/shell-mf2 and dist/catalog-<version> for each version; returns dist."""
    modules = _npm_install()
    src = out / "src"
    shutil.copytree(APP_SOURCES, src)
    shutil.copytree(src / "lib", src / "node_modules" / "mf-e2e-lib")
    env = {**os.environ, "NODE_PATH": str(modules)}
    cli = [str(shutil.which("node")), str(modules / "webpack-cli" / "bin" / "cli.js"), "--config", "webpack.config.js",
           "--env", f"out={out / 'dist'}", "--env", f"nodeModules={modules}"]
    jobs = [["--env", "target=shell"], ["--env", "target=shell-mf2"]] + [["--env", "target=remote", "--env", f"version={v}"] for v in remote_versions]
    for job in jobs:
        done = subprocess.run([*cli, *job], cwd=src, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"webpack build {job} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return out / "dist"


class StaticServer:
    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a reload must see what the test just switched to
        super().end_headers()

    def log_message(self, *args):
        pass


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
