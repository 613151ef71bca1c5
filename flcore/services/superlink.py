"""How this deployment reaches its Flower SuperLink's APIs: address and TLS, from settings."""
from __future__ import annotations

from typing import Any

from django.conf import settings

__all__ = ["superlink_tls"]


def superlink_tls() -> dict[str, Any]:
    """`insecure` and `root_certificates` keyword arguments for flcore.runtime's calls."""
    path = settings.FLOWER_ROOT_CERTIFICATES
    if not path:
        return {"insecure": True, "root_certificates": None}
    with open(path, "rb") as ca:
        return {"insecure": False, "root_certificates": ca.read()}
