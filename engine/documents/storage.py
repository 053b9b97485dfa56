"""Where the bytes of handed-in files are kept: content-addressed by SHA-256, never overwritten.

Two stores share one interface, :class:`FileStore`:

* :class:`LocalFileStore`, a folder (the embedded default, next to the database): each file at
  ``<root>/<sha[:2]>/<sha[2:4]>/<sha>``, written to a temporary file in the same folder, flushed
  to disk, then hard-linked to its final name, so a name only ever points at complete bytes and
  an existing file is never replaced (two writers of the same content both succeed);
* :class:`S3FileStore`, an S3-compatible bucket (distributed mode: every replica sees the same
  files): key ``<prefix><sha>``, uploaded only when absent (``If-None-Match: *`` on top, so a
  racing writer cannot replace it either) with its SHA-256 checksum for the server to check.

The engine puts a file before the transaction that references it commits: a crash in between
leaves an unreferenced file (harmless; the same content put again finds it), never a reference
to missing bytes. :meth:`FileStore.get` returns the stored bytes as they are; ``onevisit audit
verify --files`` is what re-hashes them against the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from engine.errors import NotFound

if TYPE_CHECKING:
    from engine.settings import Settings

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredFile:
    """A file as kept: its content's SHA-256 (lower-case hex) and its size in bytes."""

    sha256: str
    size: int


class FileMissing(NotFound):
    """No file with this hash is stored (never stored, or purged by retention)."""

    code = "file.missing"

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no stored file {sha256[:12]}… / 文件不存在或已按保存期限删除", field="file")
        self.sha256 = sha256


@runtime_checkable
class FileStore(Protocol):
    """Content-addressed file storage; every method may be called from any thread."""

    @property
    def name(self) -> str:
        """``local`` or ``s3``: what readiness and the logs call it."""
        ...

    def put(self, data: bytes) -> StoredFile:
        """Store ``data`` under its SHA-256; idempotent: an existing object is never rewritten."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``; :class:`FileMissing` if there are none."""
        ...

    def exists(self, sha256: str) -> bool:
        ...

    def delete(self, sha256: str) -> None:
        """Remove the file (the retention purge only); an absent file is not an error."""
        ...

    def problem(self) -> str | None:
        """For readiness: ``None`` while files can be written and read, else why not, in one line."""
        ...


def content_hash(data: bytes) -> str:
    """The SHA-256 of ``data`` as lower-case hex: a file's address in every store."""
    return hashlib.sha256(data).hexdigest()


def _valid(sha256: str) -> bool:
    # Anything else could name a path outside the store (``../…``) or a foreign key.
    return bool(_SHA256.fullmatch(sha256))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:240]}" if text else type(exc).__name__


# --- a local folder ------------------------------------------------------------------------


class LocalFileStore:
    """Files in a folder on this machine (created on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()

    @property
    def name(self) -> Literal["local"]:
        return "local"

    def __repr__(self) -> str:
        return f"LocalFileStore({str(self.root)!r})"

    @classmethod
    def temporary(cls) -> LocalFileStore:
        """A store in a fresh temporary folder, removed once the store is garbage-collected: the
        default of a :class:`~engine.runtime.Runtime` built without one (tests, scripts)."""
        store = cls(Path(tempfile.mkdtemp(prefix="onevisit-files-")))
        weakref.finalize(store, shutil.rmtree, store.root, ignore_errors=True)
        return store

    def path_of(self, sha256: str) -> Path:
        """Where the file with this hash is (or would be) kept."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> StoredFile:
        sha = content_hash(data)
        stored = StoredFile(sha, len(data))
        final = self.path_of(sha)
        if final.exists():
            return stored
        final.parent.mkdir(parents=True, exist_ok=True)
        # In the same folder, so the link below never crosses a file system.
        fd, temp = tempfile.mkstemp(dir=final.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o440)  # stored files are never written again
            try:
                os.link(temp, final)  # unlike rename, fails rather than replace an existing file
            except FileExistsError:
                pass  # another writer stored the same content first: same bytes, keep theirs
            else:
                _fsync_dir(final.parent)
        finally:
            Path(temp).unlink(missing_ok=True)
        return stored

    def get(self, sha256: str) -> bytes:
        if not _valid(sha256):
            raise FileMissing(sha256)
        try:
            return self.path_of(sha256).read_bytes()
        except FileNotFoundError:
            raise FileMissing(sha256) from None

    def exists(self, sha256: str) -> bool:
        return _valid(sha256) and self.path_of(sha256).is_file()

    def delete(self, sha256: str) -> None:
        if _valid(sha256):
            self.path_of(sha256).unlink(missing_ok=True)

    def problem(self) -> str | None:
        # Writing is the only honest test: permission bits say nothing to root, and a full or
        # read-only file system shows only when written to.
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root, prefix=".probe-") as probe:
                probe.write(b"ok")
                probe.flush()
        except OSError as exc:
            reason = exc.strerror or _one_line(exc)
            return f"cannot write files in {self.root}: {reason}"
        return None


def _fsync_dir(folder: Path) -> None:
    """Make a new name in ``folder`` durable (POSIX only; elsewhere the rename is enough)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- an S3-compatible bucket ---------------------------------------------------------------


def _without_userinfo(url: str | None) -> str:
    """An endpoint URL fit for a message: any ``user:password@`` removed."""
    if not url:
        return "AWS S3"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class S3FileStore:
    """Files in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, OSS, COS …).

    The credentials go to the client and nowhere else: not into attributes, ``repr`` or messages.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None,
        region: str | None,
        access_key: SecretStr | None,
        secret_key: SecretStr | None,
        prefix: str = "sha256/",
        addressing_style: Literal["auto", "path", "virtual"] = "auto",
        conditional_writes: bool = True,
    ) -> None:
        import boto3  # only deployments that use S3 pay for importing it
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.conditional_writes = conditional_writes
        """Send ``If-None-Match: *`` with every upload (servers without it ignore or refuse it;
        set False for one that refuses)."""

        def client(attempts: int, timeout: float) -> Any:
            return boto3.client(
                "s3",
                endpoint_url=endpoint_url or None,
                region_name=region or None,
                aws_access_key_id=access_key.get_secret_value() if access_key else None,
                aws_secret_access_key=secret_key.get_secret_value() if secret_key else None,
                config=Config(
                    connect_timeout=timeout, read_timeout=max(timeout, 30.0),
                    retries={"max_attempts": attempts, "mode": "standard"},
                    s3={"addressing_style": addressing_style},
                    # Checksums only where the operation requires one: ours is SHA-256, given
                    # explicitly; the CRC32 boto adds by default is refused by some servers.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )

        self._client = client(attempts=4, timeout=10.0)
        # Readiness must answer quickly: one attempt, short timeouts.
        self._probe = client(attempts=1, timeout=3.0)

    @property
    def name(self) -> Literal["s3"]:
        return "s3"

    def __repr__(self) -> str:
        return f"S3FileStore(bucket={self.bucket!r}, endpoint={_without_userinfo(self.endpoint_url)!r}, " \
               f"prefix={self.prefix!r})"

    def key_of(self, sha256: str) -> str:
        return f"{self.prefix}{sha256}"

    def put(self, data: bytes) -> StoredFile:
        from botocore.exceptions import ClientError

        sha = content_hash(data)
        stored = StoredFile(sha, len(data))
        if self.exists(sha):
            return stored
        extra: dict[str, str] = {"IfNoneMatch": "*"} if self.conditional_writes else {}
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self.key_of(sha), Body=data, ContentType="application/octet-stream",
                ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"), **extra,
            )
        except ClientError as exc:
            # 412: another writer stored it between our look and our upload (same bytes);
            # 409 ConditionalRequestConflict: the same race seen while the other upload ran.
            if _status(exc) not in (409, 412):
                raise
        return stored

    def get(self, sha256: str) -> bytes:
        from botocore.exceptions import ClientError

        if not _valid(sha256):
            raise FileMissing(sha256)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key_of(sha256))
        except ClientError as exc:
            if _status(exc) == 404 or _code(exc) in ("NoSuchKey", "NotFound"):
                raise FileMissing(sha256) from None
            raise
        body: bytes = response["Body"].read()
        return body

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        if not _valid(sha256):
            return False
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.key_of(sha256))
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise
        return True

    def delete(self, sha256: str) -> None:
        if _valid(sha256):
            self._client.delete_object(Bucket=self.bucket, Key=self.key_of(sha256))

    def problem(self) -> str | None:
        try:
            self._probe.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # any failure means "not usable"; the reason is the answer
            return f"S3 bucket {self.bucket!r} at {_without_userinfo(self.endpoint_url)}: {_describe(exc)}"
        return None


def _status(exc: Any) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        status = _status(exc)
        meaning = {403: "access denied (check the credentials and the bucket policy)",
                   404: "no such bucket"}.get(status or 0, _code(exc) or "error")
        return f"HTTP {status}: {meaning}"
    return _USERINFO.sub(r"\1", _one_line(exc))  # botocore's messages quote the endpoint URL


_USERINFO = re.compile(r"(\w+://)[^/@\s\"']+@")


# --- from the settings ---------------------------------------------------------------------


def file_store(settings: Settings) -> FileStore:
    """The store the settings configure (``ONEVISIT_STORAGE``: ``local`` or ``s3``)."""
    if settings.storage == "s3":
        assert settings.s3_bucket is not None  # the settings refuse s3 without a bucket
        return S3FileStore(
            settings.s3_bucket,
            endpoint_url=str(settings.s3_endpoint_url).rstrip("/") if settings.s3_endpoint_url else None,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            prefix=settings.s3_prefix,
            addressing_style=settings.s3_addressing_style,
            conditional_writes=settings.s3_conditional_writes,
        )
    return LocalFileStore(settings.files_path())
