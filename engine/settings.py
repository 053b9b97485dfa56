"""One settings tree, read from ``ONEVISIT_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, StringConstraints, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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

    def data_path(self, db_url: str | None = None) -> Path:
        """The local data folder for ``db_url`` (default: the configured database), not yet created."""
        if self.data_dir is not None:
            return self.data_dir.expanduser().resolve()
        from sqlalchemy.engine import make_url

        url = make_url(db_url or self.db)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).expanduser().resolve().parent
        return (Path.cwd() / "data").resolve()

    @field_validator("handler_plugins", "prefill_plugins", "interprovince_plugins", mode="before")
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


@lru_cache
def get_settings() -> Settings:
    return Settings()
