"""Writing a file whole or not at all: the platform's key files and a client's certificates. Plain
Python (no Django): the client side and the ClientApps use it too."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_whole"]


def write_whole(path: Path, data: bytes, mode: int = 0o644) -> None:
    """`data` at `path` with `mode`, through a temporary file renamed over it, so that a reader never
    sees half of it; its folder is made (0700) if missing."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
