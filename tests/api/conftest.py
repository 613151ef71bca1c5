"""Fixtures of the API kit's tests."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are created in nearly every test here; the production hasher costs ~0.5 s each.
    Only in-process requests check these passwords (live servers are called with API keys)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
