"""Retry policy for fedplane's Flower HTTP clients: transient transport errors only.

An idle keep-alive connection to a SuperLink or SuperNode may be closed by the server
just as the client reuses it ("Server disconnected without sending a response"): the
request never reached the application, so sending it again is safe. Without a retry
a warm executor loses its reply and the round waits for it until its timeout.
"""

from __future__ import annotations

import httpx
from flwr.supercore.retry import RetryInvoker, exponential

__all__ = ["transient_retry"]

_RETRYABLE = {502, 503, 504}


def transient_retry(max_time: float = 60, on_backoff=None) -> RetryInvoker:
    """Retry connection errors and 502/503/504 for ``max_time`` seconds; raise anything
    else at once (a 401 means the run was stopped). ``on_backoff(state)`` hears of each retry."""
    return RetryInvoker(
        lambda: exponential(max_delay=5),
        (httpx.TransportError, httpx.HTTPStatusError),
        max_tries=None,
        max_time=max_time,
        on_backoff=on_backoff,
        should_giveup=lambda e: (
            isinstance(e, httpx.HTTPStatusError) and e.response.status_code not in _RETRYABLE
        ),
    )
