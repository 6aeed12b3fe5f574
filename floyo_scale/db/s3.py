"""The archive bucket: multipart uploads streamed from COPY, read-back checks, stale uploads and
object versions.
"""

from __future__ import annotations

import hashlib
import io
import queue
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError

from ..errors import UsageError

# S3's smallest part (but the last): the first 1,000 parts are this big, the next 1,000 twice
# that, and so on, so S3's 10,000 parts hold 268 GiB while objects up to 4.9 GiB are written in
# 5 MiB parts, sent while the writer encodes the next (the smaller the part, the less is left
# to send after the last row; at most two parts are held: MultipartSink).
PART_SIZE = 5 * 1024 * 1024
PARTS_PER_SIZE = 1000


def part_size(number: int) -> int:
    """The size of part `number` (from 1)."""
    return PART_SIZE * (1 + (number - 1) // PARTS_PER_SIZE)


# --- S3 ---------------------------------------------------------------------------------------


# Every S3 call is bounded: a connection that is not made in 10 s, or a read that waits 60 s
# for a byte, fails (and is tried 3 times in all) instead of hanging the run: at most
# 3 x (10 + 60) s and the backoff between tries.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
ATTEMPTS = 3


def s3_client(profile: str | None = None) -> Any:
    """The standard configuration (environment, profiles, SSO, web identity, AWS_ENDPOINT_URL)
    with bounded connect and read timeouts and retries. botocore's session, which resolves all
    of that for boto3's too: boto3 adds resources and s3transfer's managed transfers, which
    these commands do not use (25 ms of CPU a run, on the cores the archive's read needs)."""
    import botocore.session
    from botocore.config import Config

    try:
        session = botocore.session.Session(profile=profile)
        return session.create_client(
            "s3",
            config=Config(
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                # total: the first try included (botocore's max_attempts counts retries only)
                retries={"total_max_attempts": ATTEMPTS, "mode": "standard"},
            ),
        )
    except BotoCoreError as exc:  # ProfileNotFound, a malformed config file
        raise UsageError(
            f"cannot set up S3: {exc}",
            "check AWS_PROFILE (or the stack's aws.profile) and ~/.aws/config; in CI, the "
            "credentials step",
        ) from None


class PendingClient:
    """An S3 client (s3_client's) built in a thread of its own from the moment it is made:
    botocore's import and client take 0.15-0.2 s of CPU, spent while the run's database work
    goes on. Every S3 call waits for it; an error building it (an unknown profile) is raised
    by the first call."""

    def __init__(self, profile: str | None = None) -> None:
        self._ready = threading.Event()
        self._client: Any = None
        self._error: BaseException | None = None
        threading.Thread(target=self._build, args=(profile,), daemon=True).start()

    def _build(self, profile: str | None) -> None:
        try:
            self._client = s3_client(profile)
        except BaseException as exc:  # raised by the first call
            self._error = exc
        finally:
            self._ready.set()

    def __getattr__(self, name: str) -> Any:
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return getattr(self._client, name)


class MultipartSink(io.RawIOBase):
    """A write-only stream that uploads what is written as S3 multipart parts, hashing it.

    Parts go up in a thread of their own while the writer goes on encoding the next one. A
    part is cut only once the one before it is up (uploading 5 MiB takes a fraction of the
    time encoding it does): at most one part uploading and one filling, whatever the
    object's size (a waiting slot as well held a part more, and at 10,000,000 rows the process
    peaked at 209 MB). The first error of an upload is raised by the next write, or by
    finish().

    The multipart upload is created with the first part: an object smaller than one part is
    one PutObject at finish(), and S3 is not called before then. `prepare`, if given, runs in
    a thread of its own from the moment the sink is made (its S3 round trips go on while the
    writer encodes); the first S3 call waits for it, and its error is raised by that call or
    by the first write after it failed. settle() waits for it too: call it before anything
    else uses what `prepare` uses, when the writing stops early."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        report: Any,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.s3, self.bucket, self.key, self.report = s3, bucket, key, report
        self.prepared: threading.Thread | None = None
        self.prepare_error: BaseException | None = None
        if prepare is not None:
            self.prepared = threading.Thread(target=self._prepare, args=(prepare,), daemon=True)
            self.prepared.start()
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.sha = hashlib.sha256()
        self.size = 0
        self.numbered = 0
        self.error: BaseException | None = None
        self.waiting: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=1)
        self.thread: threading.Thread | None = None
        self.upload_id: str | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.error is not None:
            raise self.error
        if self.prepare_error is not None:
            self._first_call()  # raises it: the writer stops now, not at its first part
        view = memoryview(data).cast("B")
        self.buffer += view
        self.sha.update(view)
        self.size += len(view)
        while len(self.buffer) >= (size := part_size(self.numbered + 1)):
            self._part(size)
        return len(view)

    def _prepare(self, prepare: Callable[[], None]) -> None:
        try:
            prepare()
        except BaseException as exc:  # raised by the first S3 call
            self.prepare_error = exc

    def settle(self) -> None:
        """Wait for `prepare` (its error, if any, is the first S3 call's to raise)."""
        if self.prepared is not None:
            self.prepared.join()
            self.prepared = None

    def _first_call(self) -> None:
        self.settle()
        if self.prepare_error is not None:
            # every later write (the writer's close) raises it
            self.error, self.prepare_error = self.prepare_error, None
            raise self.error

    def _part(self, size: int) -> None:
        """The first `size` bytes of the buffer handed to the uploader as the next part, cut
        only once the part before is up (or failed): one part uploading and one filling at
        most, never a third cut and waiting."""
        if self.upload_id is None:
            self._first_call()
            answer = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self.upload_id = answer["UploadId"]
        if self.thread is None:
            self.thread = threading.Thread(target=self._upload, daemon=True)
            self.thread.start()
        self.waiting.join()
        if self.error is not None:
            raise self.error
        body = self._cut(size)
        self.numbered += 1
        self.waiting.put((self.numbered, body))
        self.report(self.size)

    def _cut(self, size: int) -> bytes:
        with memoryview(self.buffer) as whole:
            body = bytes(whole[:size])  # one copy (a slice of the bytearray is two)
        del self.buffer[:size]
        return body

    def _upload(self) -> None:
        while (item := self.waiting.get()) is not None:
            try:
                if self.error is not None:
                    continue  # drained, so the writer never blocks on a dead uploader
                number, body = item
                answer = self.s3.upload_part(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    PartNumber=number,
                    Body=body,
                )
                self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            except BaseException as exc:  # handed to the writer
                self.error = exc
            finally:
                item = None  # the part's bytes are let go before the next is handed
                body = b""
                self.waiting.task_done()

    def _join(self) -> None:
        if self.thread is not None:
            self.waiting.put(None)
            self.thread.join()
            self.thread = None

    def finish(self) -> None:
        if self.upload_id is None:  # smaller than a part: one PutObject
            self._first_call()
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            self.buffer.clear()
            self.report(self.size)
            return
        if self.buffer:
            self._part(len(self.buffer))
        self._join()
        if self.error is not None:
            raise self.error
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        self.settle()
        self._join()
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )


def http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None


def delete_all_versions(s3: Any, bucket: str, key: str) -> None:
    """Every version of `key` (and its delete markers): an object we wrote and could not
    verify, before it is written again."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if item["Key"] == key:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])


def abort_stale_uploads(s3: Any, bucket: str, key: str) -> None:
    answer = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)
    for upload in answer.get("Uploads", []):
        if upload["Key"] == key:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])


@dataclass(frozen=True)
class ObjectCheck:
    sha256: str
    rows: int
    bytes: int


def read_back(s3: Any, bucket: str, key: str, report: Any = None) -> ObjectCheck:
    """Download `key` in chunks to a temporary file while hashing it; count its rows."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    sha = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as tmp:
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            sha.update(chunk)
            tmp.write(chunk)
            size += len(chunk)
            if report:
                report(size)
        tmp.seek(0)
        rows = pq.ParquetFile(tmp).metadata.num_rows
    return ObjectCheck(sha.hexdigest(), rows, size)


def look_at_bucket(s3: Any, bucket: str, prefix: str, max_keys: int = 1) -> set[str]:
    """Read-only: the bucket exists and these credentials may read it (a HEAD of the bucket,
    a listing of up to `max_keys` keys under `prefix`, which it returns), before anything else
    of a run. Whether they may write is not known until the upload; the partition is detached
    only once its copy is read back, so a refused write changes nothing. Raises ClientError /
    BotoCoreError as S3 answered."""
    s3.head_bucket(Bucket=bucket)
    answer = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=max_keys)
    return {item["Key"] for item in answer.get("Contents", [])}
