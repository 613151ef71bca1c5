"""One OIP v2 client for every server of bench/predict_peers: request bodies, answers, and a keep-alive load.

The load is a raw-socket HTTP/1.1 client on asyncio (uvloop when installed): each of `concurrency`
connections sends the same prebuilt request bytes, reads the status line and headers, then exactly
Content-Length bytes (or the chunks), and sends the next; no HTTP library on the hot path, so the
load generator's own CPU per request is small and the same for every server. (wrk is not installed
on the dev VM; httpx costs several times more CPU per request than this.)
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import orjson

__all__ = ["HEADER_LENGTH", "json_body", "binary_body", "decode_answer", "raw_request", "Result", "run_load"]

HEADER_LENGTH = "Inference-Header-Content-Length"


def json_body(x: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """An OIP v2 JSON request for one FP32 tensor (data flattened, as the protocol allows)."""
    body = orjson.dumps({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                                     "data": x.reshape(-1).tolist()}]})
    return body, {"Content-Type": "application/json"}


def binary_body(x: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """The binary tensor data extension: JSON head, then the little-endian bytes; the output asked as binary."""
    raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
    head = orjson.dumps({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "outputs": [{"name": "output", "parameters": {"binary_data": True}}]})
    return head + raw, {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}


def decode_answer(content: bytes, headers) -> np.ndarray:
    """The first output tensor of an OIP v2 answer, JSON or binary."""
    length = headers.get(HEADER_LENGTH)
    head = orjson.loads(content[:int(length)] if length else content)
    out = head["outputs"][0]
    if "data" in out:
        return np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])
    raw = content[int(length):int(length) + out["parameters"]["binary_data_size"]]
    return np.frombuffer(raw, dtype="<f4").reshape(out["shape"])


def raw_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}",
             *([f"Content-Length: {len(body)}"] if body or method == "POST" else []),
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)  # of the answers that came inside the window
    window_s: float = 0.0
    answered: int = 0  # every answer, warm-up included (for CPU per request)
    errors: int = 0
    first_error: str = ""

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.window_s if self.window_s else 0.0


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    close = b"\r\nconnection: close" in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        return status, await reader.readexactly(int(lower[at + 17:end])), close
    if b"\r\ntransfer-encoding: chunked" not in lower:
        raise ValueError(f"answer without a length: {head[:200]!r}")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:
            return status, b"".join(p[:-2] for p in parts), close


async def _worker(host: str, port: int, request: bytes, start_at: float, stop_at: float, result: Result) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                return
            writer.write(request)
            status, body, close = await _read_answer(reader)
            done = time.perf_counter()
            result.answered += 1
            if status != 200:
                result.errors += 1
                result.first_error = result.first_error or f"{status} {body[:300]!r}"
            elif start_at <= done <= stop_at:
                result.latencies_ms.append((done - sent) * 1000)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def _load(host: str, port: int, request: bytes, concurrency: int, warmup: float, duration: float) -> Result:
    result = Result(window_s=duration)
    start_at = time.perf_counter() + warmup
    stop_at = start_at + duration
    await asyncio.gather(*(_worker(host, port, request, start_at, stop_at, result) for _ in range(concurrency)))
    return result


def run_load(host: str, port: int, request: bytes, *, concurrency: int, warmup: float, duration: float) -> Result:
    """`concurrency` keep-alive connections sending `request` back to back for warmup + duration seconds."""
    try:
        import uvloop

        return uvloop.run(_load(host, port, request, concurrency, warmup, duration))
    except ImportError:
        return asyncio.run(_load(host, port, request, concurrency, warmup, duration))
