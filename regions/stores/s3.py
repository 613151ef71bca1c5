"""S3-compatible stores (s3fs): settings, and multipart uploads that the store verifies and that resume.

`s3://bucket/prefix` store URLs open through s3fs with the endpoint and credentials of the
REGIONS_S3_* settings (unset: boto's own chain: AWS_* variables, a profile, an instance role).

Uploads are multipart: the source is read part by part (hashed once, whole, as it streams),
and up to REGIONS_S3_CONCURRENCY parts go up at once, each with its `ChecksumSHA256`, so the
store verifies every part it received (it refuses a part whose bytes do not match). Once
complete, the object's composite checksum (the SHA-256 of the parts' digests) is read back
from the store and compared with ours. Nothing is visible at the key until the upload is
completed, so a reader never sees half an object.

Every part that lands is recorded through `checkpoint` (the replication target's row keeps
it); an attempt that finds a recorded upload still open sends only the parts the store does
not hold with the same digest, instead of starting over.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings

__all__ = ["is_s3", "storage_options", "S3Upload", "parts_of"]

_MAX_PARTS = 10_000  # S3's limit on the parts of one upload


def is_s3(fs) -> bool:
    protocol = getattr(fs, "protocol", ())
    return "s3" in (protocol if isinstance(protocol, (tuple, list)) else (protocol,))


def storage_options(url: str) -> dict:
    """s3fs's options for `url` from the REGIONS_S3_* settings (none for other stores)."""
    if not url.startswith(("s3://", "s3a://")):
        return {}
    options: dict = {}
    if settings.REGIONS_S3_ENDPOINT_URL:
        options["endpoint_url"] = settings.REGIONS_S3_ENDPOINT_URL
    if settings.REGIONS_S3_ACCESS_KEY_ID:
        options["key"] = settings.REGIONS_S3_ACCESS_KEY_ID
        options["secret"] = settings.REGIONS_S3_SECRET_ACCESS_KEY
    if settings.REGIONS_S3_REGION:
        options["client_kwargs"] = {"region_name": settings.REGIONS_S3_REGION}
    return options


def part_size(size: int | None) -> int:
    """REGIONS_S3_PART_BYTES, raised so that `size` bytes fit in S3's 10,000 parts."""
    part = settings.REGIONS_S3_PART_BYTES
    if size:
        part = max(part, -(-size // _MAX_PARTS))
    return part


def parts_of(chunks: Iterable[bytes | memoryview], part_bytes: int) -> Iterator[bytes]:
    """`chunks` regrouped into parts of `part_bytes` (the last one shorter)."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        while len(pending) >= part_bytes:
            yield bytes(pending[:part_bytes])
            del pending[:part_bytes]
    if pending:
        yield bytes(pending)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class S3Upload:
    """One multipart upload of `path` ("bucket/key"), resumed from `state` when that upload is still open.

    Call `send` for each part in order from one thread, then `finish`, then `complete` (or `abort`).
    """

    def __init__(self, fs, path: str, *, part_bytes: int, state: dict | None = None,
                 checkpoint: Callable[[dict], None] | None = None) -> None:
        self.fs, self.path, self.part_bytes = fs, path, part_bytes
        self.bucket, self.key = path.split("/", 1)
        self.checkpoint = checkpoint or (lambda state: None)
        self.concurrency = max(1, settings.REGIONS_S3_CONCURRENCY)
        self.parts: dict[int, dict] = {}  # landed in this upload: number -> ETag, ChecksumSHA256, Size
        self.kept: dict[int, dict] = {}  # landed in an earlier attempt and still held by the store
        self.sent_bytes = self.resumed_bytes = 0
        self._inflight: set[Future] = set()
        self._pool: ThreadPoolExecutor | None = None
        self.upload_id = self._resume(state) or self._create()
        self._save()

    # -- opening -------------------------------------------------------------------------------

    def _resume(self, state: dict | None) -> str | None:
        if not state or not state.get("uploadId"):
            return None
        if state.get("path") != self.path or state.get("partBytes") != self.part_bytes:
            abort_recorded(self.fs, state)  # parts of another size (the settings changed): not reusable
            return None
        try:
            held = self._held_parts(state["uploadId"])
        except FileNotFoundError:  # completed, aborted or expired since: start over
            return None
        recorded = {int(n): part for n, part in (state.get("parts") or {}).items()}
        self.kept = {n: part for n, part in recorded.items()
                     if n in held and held[n]["ETag"] == part["ETag"] and held[n]["Size"] == part["Size"]}
        return state["uploadId"]

    def _held_parts(self, upload_id: str) -> dict[int, dict]:
        held, marker = {}, 0
        while True:
            page = self.fs.call_s3("list_parts", Bucket=self.bucket, Key=self.key, UploadId=upload_id,
                                   PartNumberMarker=marker)
            for part in page.get("Parts", []):
                held[part["PartNumber"]] = {"ETag": part["ETag"], "Size": part["Size"]}
            if not page.get("IsTruncated"):
                return held
            marker = page["NextPartNumberMarker"]

    def _create(self) -> str:
        created = self.fs.call_s3("create_multipart_upload", Bucket=self.bucket, Key=self.key,
                                  ChecksumAlgorithm="SHA256", ContentType="application/octet-stream")
        return created["UploadId"]

    def _save(self) -> None:
        self.checkpoint({"path": self.path, "uploadId": self.upload_id, "partBytes": self.part_bytes,
                         "parts": {str(n): p for n, p in sorted({**self.kept, **self.parts}.items())},
                         "sentBytes": self.sent_bytes, "resumedBytes": self.resumed_bytes})

    # -- sending -------------------------------------------------------------------------------

    def send(self, number: int, data: bytes) -> None:
        """Part `number` (from 1): sent in the background, at most REGIONS_S3_CONCURRENCY at once."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3-part")
        while len(self._inflight) >= self.concurrency:
            self._collect(block=True)
        self._inflight.add(self._pool.submit(self._put, number, data))
        self._collect(block=False)

    def _put(self, number: int, data: bytes) -> tuple[int, dict, bool]:
        checksum = _b64(hashlib.sha256(data).digest())
        kept = self.kept.get(number)
        if kept and kept.get("ChecksumSHA256") == checksum and kept["Size"] == len(data):
            return number, kept, False  # the store holds these very bytes from an earlier attempt
        answer = self.fs.call_s3("upload_part", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                 PartNumber=number, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
        if answer.get("ChecksumSHA256", checksum) != checksum:
            raise OSError(f"part {number}: the store computed ChecksumSHA256 {answer['ChecksumSHA256']}, "
                          f"we sent {checksum}")
        return number, {"ETag": answer["ETag"], "ChecksumSHA256": checksum, "Size": len(data)}, True

    def _collect(self, *, block: bool) -> None:
        if not self._inflight:
            return
        done, self._inflight = wait(self._inflight, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        self._record(done)

    def _record(self, done) -> None:
        """Record the parts that landed; then raise the first part's error, if one failed."""
        failed = [f.exception() for f in done if f.exception() is not None]
        for future in done:
            if future.exception() is None:
                number, part, sent = future.result()
                self.parts[number] = part
                self.kept.pop(number, None)
                if sent:
                    self.sent_bytes += part["Size"]
                else:
                    self.resumed_bytes += part["Size"]
        if len(failed) < len(done):
            self._save()
        if failed:
            raise failed[0]

    def finish(self) -> None:
        """Wait for every part sent; record them (the ones that landed are recorded even on an error)."""
        try:
            while self._inflight:
                self._collect(block=True)
        finally:
            self.close()

    def close(self) -> None:
        """Stop sending: parts under way finish and are recorded, so a later attempt keeps them."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        pending, self._inflight = self._inflight, set()
        try:
            self._record(pending)
        except Exception:  # noqa: BLE001 - the error that stopped the upload is the one reported
            pass

    # -- ending --------------------------------------------------------------------------------

    def composite_checksum(self) -> str:
        digests = b"".join(base64.b64decode(self.parts[n]["ChecksumSHA256"]) for n in sorted(self.parts))
        return f"{_b64(hashlib.sha256(digests).digest())}-{len(self.parts)}"

    def complete(self) -> None:
        """Make the object visible at its key, then check the checksum the store computed for it."""
        parts = [{"PartNumber": n, "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]}
                 for n, p in sorted(self.parts.items())]
        self.fs.call_s3("complete_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                        MultipartUpload={"Parts": parts})
        head = self.fs.call_s3("head_object", Bucket=self.bucket, Key=self.key, ChecksumMode="ENABLED")
        expected = self.composite_checksum()
        # A store that keeps no checksums (some S3-compatible ones) verified nothing: read it back.
        stored = head.get("ChecksumSHA256") or self._read_back_checksum()
        if stored.split("-")[0] != expected.split("-")[0]:
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key)
            raise OSError(f"the store's checksum of {self.path} is {stored}, the parts sent make {expected}")
        self.fs.invalidate_cache(self.path)

    def _read_back_checksum(self) -> str:
        """The composite checksum of what the store holds at the key, read back part by part."""
        self.fs.invalidate_cache(self.path)  # the object is new: no listing cached before it may size it
        digests = []
        with self.fs.open(self.path, "rb") as stored:
            for number in sorted(self.parts):
                digests.append(hashlib.sha256(stored.read(self.parts[number]["Size"])).digest())
        return f"{_b64(hashlib.sha256(b''.join(digests)).digest())}-{len(digests)}"

    def abort(self) -> None:
        self.close()
        try:
            self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except FileNotFoundError:  # gone already
            pass
        self.checkpoint({})


def abort_recorded(fs, state: dict) -> None:
    """Abort the upload an earlier attempt recorded in `state` (a replication given up on)."""
    if not state.get("uploadId") or not state.get("path"):
        return
    bucket, key = state["path"].split("/", 1)
    try:
        fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=state["uploadId"])
    except FileNotFoundError:
        pass
