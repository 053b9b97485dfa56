"""The file stores: a local folder and a real S3-compatible server (moto's, in a subprocess),
through the same tests; the settings that choose one."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from engine.documents.storage import FileMissing, FileStore, LocalFileStore, S3FileStore, StoredFile, file_store
from engine.settings import Settings
from tests.s3_server import S3Server

MakeStore = Callable[[], FileStore]


def s3_store(server: S3Server, bucket: str, **kwargs: object) -> S3FileStore:
    return S3FileStore(bucket, endpoint_url=server.endpoint_url, region=server.region,
                       access_key=server.access_key, secret_key=server.secret_key, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    if request.param == "local":
        return LocalFileStore(tmp_path / "files")
    server: S3Server = request.getfixturevalue("s3_server")
    return s3_store(server, server.new_bucket(versioned=True))


def test_a_file_put_is_got_back_by_its_hash_and_deleted(store: FileStore) -> None:
    data = "身份证复印件 scan".encode() * 100
    stored = store.put(data)
    assert stored == StoredFile(hashlib.sha256(data).hexdigest(), len(data))
    assert store.exists(stored.sha256)
    assert store.get(stored.sha256) == data
    other = store.put(b"another file")
    store.delete(stored.sha256)
    assert not store.exists(stored.sha256)
    with pytest.raises(FileMissing):
        store.get(stored.sha256)
    assert store.get(other.sha256) == b"another file"  # only the one deleted is gone
    store.delete(stored.sha256)  # deleting an absent file is a no-op
    assert store.problem() is None


def test_a_missing_file_is_file_missing_and_a_non_hash_is_never_looked_up(store: FileStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(absent)
    with pytest.raises(FileMissing) as missing:
        store.get(absent)
    assert missing.value.field == "file" and missing.value.code == "file.missing"
    assert " / " in missing.value.message  # both languages
    for bad in ("../../etc/passwd", absent.upper(), absent[:-1], ""):
        assert not store.exists(bad)
        with pytest.raises(FileMissing):
            store.get(bad)
        store.delete(bad)


def test_putting_the_same_content_again_does_not_rewrite_it(store: FileStore, request: pytest.FixtureRequest) -> None:
    data = b"%PDF-1.7 the same bytes twice"
    first = store.put(data)
    if isinstance(store, LocalFileStore):
        path = store.path_of(first.sha256)
        assert path == store.root / first.sha256[:2] / first.sha256[2:4] / first.sha256
        before = path.stat()
        assert store.put(data) == first
        after = path.stat()
        assert (after.st_ino, after.st_mtime_ns, after.st_nlink) == (before.st_ino, before.st_mtime_ns, 1)
        assert sorted(p.name for p in path.parent.iterdir()) == [first.sha256]  # no temporary file left
    else:
        assert isinstance(store, S3FileStore)
        assert store.put(data) == first
        versions = store._client.list_object_versions(Bucket=store.bucket)["Versions"]
        # the bucket keeps every version: a second upload would show as a second one
        assert [(v["Key"], v["Size"]) for v in versions] == [(f"sha256/{first.sha256}", len(data))]
    assert store.get(first.sha256) == data


def test_concurrent_puts_of_the_same_content_all_succeed_with_one_file(store: FileStore) -> None:
    data = os.urandom(64 * 1024)
    barrier = threading.Barrier(8)
    results: list[StoredFile] = []
    errors: list[BaseException] = []

    def put() -> None:
        barrier.wait()
        try:
            results.append(store.put(data))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == 8 and len(set(results)) == 1
    assert store.get(results[0].sha256) == data
    if isinstance(store, LocalFileStore):
        assert list(store.path_of(results[0].sha256).parent.iterdir()) == [store.path_of(results[0].sha256)]


def test_an_unwritable_folder_is_a_problem_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a folder inside a file cannot be created, even by root
    store = LocalFileStore(blocker / "files")
    problem = store.problem()
    assert problem is not None and problem.startswith(f"cannot write files in {blocker / 'files'}: ")
    assert "\n" not in problem
    with pytest.raises(OSError):
        store.put(b"x")
    assert LocalFileStore(tmp_path / "new" / "files").problem() is None  # created on first use
    assert (tmp_path / "new" / "files").is_dir()


def test_a_missing_bucket_or_an_unreachable_server_is_a_problem_without_secrets(s3_server: S3Server) -> None:
    secret = SecretStr("do-not-show-this-secret")
    missing = S3FileStore("no-such-bucket-here", endpoint_url=s3_server.endpoint_url, region=s3_server.region,
                          access_key=SecretStr("AKIDEXAMPLE"), secret_key=secret)
    problem = missing.problem()
    assert problem == f"S3 bucket 'no-such-bucket-here' at {s3_server.endpoint_url}: HTTP 404: no such bucket"
    down = S3FileStore("bucket", endpoint_url="http://user:pw@127.0.0.1:9", region="us-east-1",
                       access_key=SecretStr("AKIDEXAMPLE"), secret_key=secret)
    problem = down.problem()
    assert problem is not None and problem.startswith("S3 bucket 'bucket' at http://127.0.0.1:9: ")
    for text in (problem, repr(down), repr(missing)):
        assert "do-not-show-this-secret" not in text and "AKIDEXAMPLE" not in text and "pw@" not in text
    assert "\n" not in problem


def test_the_settings_choose_the_store(s3_server: S3Server, tmp_path: Path) -> None:
    local = file_store(Settings(data_dir=tmp_path / "data"))
    assert isinstance(local, LocalFileStore) and local.root == (tmp_path / "data" / "files").resolve()
    assert local.name == "local"
    chosen = file_store(Settings(storage_dir=tmp_path / "elsewhere"))
    assert isinstance(chosen, LocalFileStore) and chosen.root == (tmp_path / "elsewhere").resolve()
    bucket = s3_server.new_bucket()
    s3 = file_store(Settings(storage="s3", s3_bucket=bucket,
                             s3_endpoint_url=s3_server.endpoint_url,
                             s3_region=s3_server.region, s3_access_key=s3_server.access_key,
                             s3_secret_key=s3_server.secret_key, s3_prefix="files/"))
    assert isinstance(s3, S3FileStore) and s3.name == "s3" and s3.problem() is None
    stored = s3.put(b"via the settings")
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"files/{stored.sha256}"]


@pytest.mark.parametrize(("values", "field"), [
    ({"storage": "s3"}, "ONEVISIT_S3_BUCKET"),
    ({"storage": "s3", "s3_bucket": "Not_A_Bucket"}, "s3_bucket"),
    ({"storage": "ftp"}, "storage"),
    ({"s3_access_key": "only-the-id"}, "ONEVISIT_S3_SECRET_KEY"),
    ({"upload_max_bytes": 0}, "upload_max_bytes"),
    ({"upload_max_files": 0}, "upload_max_files"),
    ({"upload_types": "pdf,docx"}, "upload_types"),
    ({"upload_types": ""}, "upload_types"),
    ({"retention_days": {"default": 0}}, "retention_days"),
    ({"s3_endpoint_url": "not a url"}, "s3_endpoint_url"),
])
def test_a_bad_storage_setting_is_refused_naming_it(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**values)  # type: ignore[arg-type]
    assert field in str(refused.value)


def test_upload_and_retention_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEVISIT_UPLOAD_TYPES", "pdf, ofd")
    monkeypatch.setenv("ONEVISIT_RETENTION_DAYS", '{"id_copy": 365}')
    monkeypatch.setenv("ONEVISIT_S3_SECRET_KEY", "hidden-value")
    monkeypatch.setenv("ONEVISIT_S3_ACCESS_KEY", "key-id")
    settings = Settings()
    assert [k.value for k in settings.upload_types] == ["pdf", "ofd"]
    assert settings.retention_days == {"default": 3650, "id_copy": 365}
    assert settings.upload_max_bytes == 10 * 1024 * 1024 and settings.upload_max_files == 10
    assert "hidden-value" not in repr(settings) and "key-id" not in repr(settings)


def test_a_runtime_built_without_a_store_gets_a_temporary_folder_of_its_own(runtime: object) -> None:
    from engine.runtime import Runtime

    assert isinstance(runtime, Runtime) and isinstance(runtime.files, LocalFileStore)
    other = Runtime(registry=runtime.registry, calendar=runtime.calendar)
    assert isinstance(other.files, LocalFileStore)
    assert other.files.root != runtime.files.root and other.files.root.name.startswith("onevisit-files-")
    stored = runtime.files.put(b"kept apart")
    assert not other.files.exists(stored.sha256)
