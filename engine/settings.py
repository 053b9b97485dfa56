"""One settings tree, read from ``ONEVISIT_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, StringConstraints, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine.documents.inspection import FileKind
from engine.spec.loader import BUNDLES_DIR, FIELDS_FILE


def _default_db() -> str:
    return f"sqlite:///{Path.cwd() / 'data' / 'onevisit.db'}"


class ProvinceEndpoint(BaseModel):
    """Another province's 跨省通办 endpoint (the exchange of :mod:`engine.interprovince.http`)."""

    name: str = Field(min_length=1, max_length=100, description="What the window and the audit trail call it.")
    url: AnyHttpUrl = Field(description="Base URL; the engine POSTs to <url>/transfers and GETs <url>/transfers/<ref>.")
    token: SecretStr | None = Field(default=None, description="Bearer token sent with every call (never logged).")
    timeout: float = Field(default=30.0, gt=0, le=300, description="Seconds before an attempt counts as failed.")


ProvinceCode = Annotated[str, StringConstraints(pattern=r"^[1-8][0-9]$")]
RetentionKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
# S3's bucket naming rules (lower case, digits, dots and hyphens; 3 to 63 characters).
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


class Settings(BaseSettings):
    """onevisit configuration; every field can be set as ``ONEVISIT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="ONEVISIT_", extra="ignore")

    db: str = Field(
        default_factory=_default_db,
        description="Database URL: SQLite file (embedded default, ./data/onevisit.db) or postgresql+psycopg://…",
    )
    bundles_dir: Path = Field(
        default=BUNDLES_DIR,
        description="Folder of bundle YAML files with its own catalog/ subfolder (no fallback to the packaged "
        "catalog); read at startup and by `onevisit bundles check` and `bundles diff`.",
    )
    fields_file: Path = Field(default=FIELDS_FILE, description="The field dictionary (YAML).")
    calendar_file: Path | None = Field(
        default=None,
        description="Extra official holiday schedules (YAML), merged over the packaged State Council schedules.",
    )
    region: str = Field(default="430100", description="Default region code (GB/T 2260) for receipts and scoping.")
    audit_key: str | None = Field(
        default=None,
        description="Secret key (kept outside the database) that signs the periodic seals of all audit chain heads; "
        "without it seals are not written and `audit verify` says so.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024,
        description="Largest JSON request body accepted, in bytes; larger bodies get 413 before they are read.",
    )
    max_in_flight_requests: int = Field(
        default=32, ge=1, le=1000,
        description=("Requests inside the app at once (keep it below the thread pool's 40); more wait "
                     "overload_queue_seconds for a place, then get 503 with Retry-After: an overloaded server sheds "
                     "load instead of seizing up. The probes are never held back."),
    )
    overload_queue_seconds: float = Field(
        default=5.0, ge=0, le=60,
        description="How long a request waits for a place when max_in_flight_requests are inside, before its 503.",
    )
    secure_cookies: bool = Field(
        default=False, description="Mark the pages' cookies Secure (set when served over https)."
    )
    csrf_secret: str | None = Field(
        default=None, min_length=16,
        description="Secret that signs the pages' CSRF values (an HMAC of the login session); give every replica "
        "the same one. Unset: a random secret per process, so forms opened before a restart must be reloaded.",
    )
    handler_plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra automated-step handler plugins, comma-separated module:function (besides entry points "
        "of group onevisit.handlers); each is called with the handler registry.",
    )
    prefill_plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra prefill provider plugins, comma-separated module:function (besides entry points of group "
        "onevisit.prefill); each is called with the provider registry.",
    )
    interprovince_plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Plugins registering other provinces' systems for 跨省通办, comma-separated module:function "
        "(besides entry points of group onevisit.interprovince); each is called with the province-system registry.",
    )
    notify_plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Notification channel plugins, comma-separated module:function (besides entry points of group "
        "onevisit.notify); each is called with the channel registry.",
    )
    public_url: AnyHttpUrl | None = Field(
        default=None,
        description="The public origin of the pages (https://zwfw.example.gov.cn): the receipt's 一码通办 QR opens "
        "<public_url>/ui/track; unset, the QR carries the path only.",
    )
    notify_locale: Literal["zh", "en"] = Field(default="zh", description="Language of the notices sent.")
    notify_smtp_host: str | None = Field(
        default=None, description="SMTP server of the email channel; unset: no email is sent (the inbox still is).")
    notify_smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP server.")
    notify_smtp_from: str = Field(default="noreply@onevisit.invalid", description="Sender address of notices.")
    notify_smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    notify_smtp_user: str | None = Field(default=None, description="SMTP login name; unset: no login.")
    notify_smtp_password: SecretStr | None = Field(default=None, description="SMTP password (never logged).")
    notify_sms: Literal["off", "log"] = Field(
        default="off", description="The SMS channel: off, or log (the built-in adapter logs the masked number and "
        "the template; a gateway comes as a notify plugin).",
    )
    interprovince_endpoints: dict[ProvinceCode, ProvinceEndpoint] = Field(
        default_factory=dict,
        description='Other provinces\' 跨省通办 systems reached over HTTP, a JSON object by two-digit province code: '
        '{"44": {"name": "广东省一体化政务服务平台", "url": "https://…", "token": "…"}}.',
    )
    demo_token_days: int = Field(default=7, ge=1, le=365, description="How long demo tokens stay valid, in days.")
    data_dir: Path | None = Field(
        default=None,
        description="Folder for the engine's local data (Prefect's home of `onevisit serve`, logs); created on first "
        "use. Default: the folder of the SQLite database file, or ./data for PostgreSQL.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as plain text or as one JSON object per event (`json`)."
    )
    dispatch_every: float = Field(
        default=5.0, gt=0, description="Seconds between passes of the dispatch flow (automated steps) in the background."
    )
    sweep_every: float = Field(
        default=30.0, gt=0, description="Seconds between passes of the deadline sweep (timers, cards) in the background."
    )
    prefect_startup_timeout: float = Field(
        default=600.0, gt=0,
        description="Seconds `onevisit serve` waits for its Prefect server to answer before it counts the start as "
        "failed, stops it and tries again (a loaded machine can take minutes).",
    )
    storage: Literal["local", "s3"] = Field(
        default="local",
        description="Where handed-in files are kept: `local`, a folder (storage_dir; the embedded default), or `s3`, "
        "an S3-compatible bucket shared by every replica (s3_bucket, s3_endpoint_url …). Files are content-addressed "
        "by SHA-256 and never overwritten.",
    )
    storage_dir: Path | None = Field(
        default=None,
        description="Folder of the local file store; created on first use. Default: <data_dir>/files (next to the "
        "SQLite database).",
    )
    s3_bucket: BucketName | None = Field(default=None, description="Bucket of the S3 file store (required for s3).")
    s3_endpoint_url: AnyHttpUrl | None = Field(
        default=None,
        description="Endpoint of an S3-compatible server (MinIO, Ceph, OSS, COS …); unset: AWS S3 itself.",
    )
    s3_region: str | None = Field(
        default=None, max_length=64, description="Region of the bucket, if the server needs one."
    )
    s3_access_key: SecretStr | None = Field(
        default=None, description="Access key id of the S3 store; unset: boto3's usual sources (never logged)."
    )
    s3_secret_key: SecretStr | None = Field(
        default=None, description="Secret access key of the S3 store; unset: boto3's usual sources (never logged)."
    )
    s3_prefix: str = Field(
        default="sha256/", max_length=200, pattern=r"^[A-Za-z0-9!_.*'()/-]*$",
        description="Key prefix of the stored files in the bucket; each key is <prefix><sha256>.",
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="How bucket names go into S3 URLs: `path` for most self-hosted servers, "
        "`virtual` for those that require bucket.host, `auto` to let boto3 decide.",
    )
    s3_conditional_writes: bool = Field(
        default=True, description="Upload with If-None-Match: * so a racing writer never replaces a stored file; "
        "turn off only for a server that refuses the header.",
    )
    upload_max_bytes: int = Field(
        default=10 * 1_048_576, ge=1, le=1024 * 1_048_576,
        description="Largest file accepted for a material, in bytes, unless its bundle says otherwise (10 MiB).",
    )
    upload_max_files: int = Field(
        default=10, ge=1, le=1000,
        description="Most files accepted for one material, unless its bundle says otherwise.",
    )
    upload_types: Annotated[list[FileKind], NoDecode] = Field(
        default_factory=lambda: list(FileKind), min_length=1,
        description="File types accepted unless a bundle says otherwise, comma-separated: pdf, jpeg, png, ofd "
        "(always decided from the content, never from the file name).",
    )
    retention_days: dict[RetentionKind, int] = Field(
        default_factory=lambda: {"default": 3650},
        description='Days a closed case\'s files are kept, by material retention kind, a JSON object: '
        '{"default": 3650, "id_copy": 365}; a kind not named keeps "default" (3650 unless given).',
    )
    defer_remind_days: int = Field(
        default=2, ge=0, le=30,
        description="容缺受理: the sweep reminds the applicant of a deferred material this many working days before "
        "the promised date (shown on the case's progress; email and SMS come with the notifications).",
    )
    red_after_days: int = Field(
        default=5, ge=1, le=60,
        description="电子监察: a step (or case) still open this many working days after its due date gets a red card "
        "(yellow at the due date).",
    )
    remind_before_days: int = Field(
        default=2, ge=0, le=30,
        description="电子监察: the sweep reminds the officer of an open step this many working days before its due "
        "date, once per step (0: no reminders).",
    )

    rectification_working_days: int = Field(
        default=15, ge=1, le=120,
        description="好差评: working days an office has to rectify a bad rating (整改, with its 回访 call-back).",
    )
    complaint_working_days: int = Field(
        default=5, ge=1, le=60,
        description="12345 诉求: working days the responsible office has to answer a hotline complaint about a case.",
    )
    post_check_rate: float = Field(
        default=1.0, ge=0, le=1,
        description=("告知承诺: the share of signed commitments checked afterwards (事中事后核查) where a step's "
                     "post_check gives no rate; 1 checks every one."),
    )
    post_check_seed: str = Field(
        default="onevisit", min_length=1, max_length=64,
        description=("告知承诺: the seed of the post-check draw; a step's draw is a hash of the seed and the step's "
                     "id, so the same commitment is always drawn the same way (reproducible, auditable)."),
    )
    credit_mark_years: int = Field(
        default=3, ge=1, le=10,
        description=("告知承诺: years a serious credit mark for a false commitment stays in force; meanwhile its "
                     "holder's commitment steps go to normal review."),
    )
    licence_qr_key: SecretStr | None = Field(
        default=None, min_length=16,
        description=("扫码亮证: secret that signs the licence QR tokens (HMAC-SHA256, kept outside the database); give "
                     "every replica the same one. Unset: a random key per process, so QR codes shown before a "
                     "restart no longer verify (never logged)."),
    )
    licence_qr_seconds: int = Field(
        default=300, ge=30, le=3600,
        description="扫码亮证: seconds a licence QR code stays valid after the holder shows it.",
    )

    def data_path(self, db_url: str | None = None) -> Path:
        """The local data folder for ``db_url`` (default: the configured database), not yet created."""
        if self.data_dir is not None:
            return self.data_dir.expanduser().resolve()
        from sqlalchemy.engine import make_url

        url = make_url(db_url or self.db)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).expanduser().resolve().parent
        return (Path.cwd() / "data").resolve()

    def files_path(self) -> Path:
        """The local file store's folder (storage_dir, else <data folder>/files), not yet created."""
        if self.storage_dir is not None:
            return self.storage_dir.expanduser().resolve()
        return self.data_path() / "files"

    @field_validator("handler_plugins", "prefill_plugins", "interprovince_plugins", "notify_plugins", "upload_types",
                     mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        from engine.people.validators import InvalidValue, validate_region_code

        try:
            return validate_region_code(value)
        except InvalidValue as exc:
            raise ValueError(exc.message_en) from None

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: dict[str, int]) -> dict[str, int]:
        short = sorted(kind for kind, days in value.items() if days < 1)
        if short:
            raise ValueError(f"retention must be at least one day (kinds {', '.join(short)})")
        return {"default": 3650} | value

    @model_validator(mode="after")
    def _storage_complete(self) -> Settings:
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("ONEVISIT_S3_BUCKET is required when ONEVISIT_STORAGE is s3")
        if (self.s3_access_key is None) != (self.s3_secret_key is None):
            raise ValueError("ONEVISIT_S3_ACCESS_KEY and ONEVISIT_S3_SECRET_KEY go together: set both or neither")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()


def public_link(path: str) -> str:
    """An absolute link to ``path`` (a page or API path) under the ``public_url`` setting, or the
    path alone when the public address is not configured (notices, QR codes, receipts)."""
    base = get_settings().public_url
    return f"{str(base).rstrip('/')}{path}" if base is not None else path
