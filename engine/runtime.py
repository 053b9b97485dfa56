"""What every service function needs besides a session: specs, calendar, clock, handlers.

Published bundle versions live in the ``bundle_versions`` table; a case is interpreted with
the snapshot it was accepted under, so publishing version 2 never changes a running case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from engine.people.prefill import PrefillRegistry

from engine.time.calendar import WorkingCalendar
from engine.time.clock import Clock, SystemClock, local_date
from engine.db.models import BundleVersion, Case
from engine.documents.storage import FileStore, LocalFileStore
from engine.errors import DomainError, NotFound
from engine.interprovince.systems import ProvinceSystems
from engine.machine.handlers import HandlerRegistry, default_handlers
from engine.notify.channels import ChannelRegistry
from engine.spec.loader import BundleRegistry, load_registry
from engine.spec.models import BundleSpec
from engine.spec.versions import SPEC_SCHEMA_VERSION, BundleDiff, diff_specs, legacy_hash

log = logging.getLogger(__name__)


def _default_prefill() -> PrefillRegistry:
    from engine.people.prefill import default_providers

    return default_providers()


class SpecConflict(DomainError):
    """A bundle file changed without a new version number."""

    code = "spec_conflict"


@dataclass
class Runtime:
    """The engine's collaborators, injected into every service call."""

    registry: BundleRegistry
    calendar: WorkingCalendar
    clock: Clock = field(default_factory=SystemClock)
    handlers: HandlerRegistry = field(default_factory=default_handlers)
    prefill: PrefillRegistry = field(default_factory=_default_prefill)
    """Prefill providers in priority order (licences, the case's own steps, earlier cases, plugins)."""
    provinces: ProvinceSystems = field(default_factory=ProvinceSystems)
    """Other provinces' systems (跨省通办) by province code, from plugins (:mod:`engine.interprovince`)."""
    channels: ChannelRegistry = field(default_factory=ChannelRegistry)
    """Notification channels besides the inbox (email, SMS, plugins; :mod:`engine.notify`); none by default."""
    region: str = "430100"
    """Region code (GB/T 2260) for receipts when neither the request nor the clerk names one."""
    files: FileStore = field(default_factory=LocalFileStore.temporary)
    """Where handed-in files are kept (:mod:`engine.documents.storage`); built without one, a
    runtime keeps them in a fresh temporary folder of its own."""
    _snapshots: dict[str, BundleSpec] = field(default_factory=dict, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    @classmethod
    def default(cls, clock: Clock | None = None) -> Runtime:
        """The runtime of a deployment: its settings, the built-in handlers and prefill
        providers, and the plugins it installed (see :mod:`engine.plugins`)."""
        from engine.documents.storage import file_store
        from engine.people.prefill import default_providers
        from engine.interprovince.http import configured_provinces
        from engine.interprovince.systems import INTERPROVINCE_GROUP
        from engine.notify.channels import default_channels
        from engine.plugins import HANDLERS_GROUP, NOTIFY_GROUP, PREFILL_GROUP, install_plugins
        from engine.settings import get_settings

        settings = get_settings()
        handlers = install_plugins(default_handlers(), group=HANDLERS_GROUP, configured=settings.handler_plugins)
        return cls(
            registry=load_registry(settings.bundles_dir, settings.fields_file, handlers=set(handlers)),
            calendar=WorkingCalendar.default(settings.calendar_file),
            clock=clock or SystemClock(),
            handlers=handlers,
            prefill=install_plugins(default_providers(), group=PREFILL_GROUP, configured=settings.prefill_plugins),
            provinces=install_plugins(configured_provinces(settings.interprovince_endpoints),
                                      group=INTERPROVINCE_GROUP, configured=settings.interprovince_plugins),
            channels=install_plugins(default_channels(settings), group=NOTIFY_GROUP,
                                     configured=settings.notify_plugins),
            region=settings.region,
            files=file_store(settings),
        )

    def today(self) -> date:
        return local_date(self.clock.now())

    def current_spec(self, bundle_id: str) -> BundleSpec:
        try:
            return self.registry.get(bundle_id)
        except KeyError:
            raise NotFound(f"unknown bundle {bundle_id!r}", field="bundle_id") from None

    def spec_for(self, session: Session, case: Case) -> BundleSpec:
        """The exact spec a case was accepted under (cached by hash).

        A case accepted under schema 1 carries the old-scheme hash; its version's snapshot is
        read and migrated. A case whose hash matches neither the current spec nor its version's
        published snapshot (accepted under a draft that was published differently) is refused
        rather than driven by the wrong spec.
        """
        cached = self._snapshots.get(case.spec_hash)
        if cached is not None:
            return cached
        current = self.registry.bundles.get(case.bundle_id)
        if current is not None and current.spec_hash == case.spec_hash:
            spec = current
        else:
            row = session.scalars(
                select(BundleVersion).where(
                    BundleVersion.bundle_id == case.bundle_id, BundleVersion.version == case.bundle_version
                )
            ).one_or_none()
            if row is None:
                raise SpecConflict(
                    f"case {case.receipt_no}: bundle {case.bundle_id!r} version {case.bundle_version} was never "
                    f"published (the case was accepted under a draft) / 该件所依据的事项版本未发布（草稿）"
                )
            spec = BundleSpec.from_snapshot(row.snapshot)
            if case.spec_hash not in (row.spec_hash, spec.spec_hash, legacy_hash(row.snapshot)):
                raise SpecConflict(
                    f"case {case.receipt_no}: bundle {case.bundle_id!r} version {case.bundle_version} as published "
                    f"is not the spec the case was accepted under (a draft?) / 该件所依据的事项内容与已发布版本不一致"
                )
        with self._lock:
            self._snapshots[case.spec_hash] = spec
        return spec

    def with_draft(self, spec: BundleSpec, *, path: Path | None = None) -> Runtime:
        """A copy of this runtime that also serves ``spec`` as a draft: cases can be accepted and
        driven under it (in tests, on a scratch database), but :func:`publish_bundles` never
        records it. A draft with the id of a current bundle replaces it in the copy."""
        return replace(self, registry=self.registry.with_draft(spec, path=path), _snapshots={}, _lock=Lock())


def publish_bundles(session: Session, runtime: Runtime) -> list[BundleSpec]:
    """Record every current bundle version not yet published; return the new ones.

    A file whose content changed while keeping a published version number is refused: the
    running cases of that version would otherwise be interpreted with a different spec.
    Replicas starting together may race to publish: the loser looks again and finds them.
    """
    try:
        return _publish(session, runtime)
    except IntegrityError:
        session.rollback()
        return _publish(session, runtime)


def _publish(session: Session, runtime: Runtime) -> list[BundleSpec]:
    published = {(row.bundle_id, row.version): row for row in session.scalars(select(BundleVersion))}
    new: list[BundleSpec] = []
    for spec in runtime.registry:
        if spec.id in runtime.registry.drafts:
            continue
        row = published.get((spec.id, spec.version))
        if row is None:
            session.add(
                BundleVersion(
                    bundle_id=spec.id,
                    version=spec.version,
                    spec_hash=spec.spec_hash,
                    snapshot=spec.snapshot(),
                    published_at=runtime.clock.now(),
                )
            )
            new.append(spec)
        elif row.spec_hash != spec.spec_hash:
            _accept_rehash(row, spec)
    session.commit()
    return new


def _accept_rehash(row: BundleVersion, spec: BundleSpec) -> None:
    """A published row whose hash differs from the file's: the same content under an older hash
    scheme (a database published before schema 2) is re-keyed to the current hash, leaving the
    stored snapshot as it was; changed content is refused."""
    try:
        stored = BundleSpec.from_snapshot(row.snapshot)
    except ValueError as exc:
        raise SpecConflict(
            f"bundle {spec.id!r} version {spec.version}: the published snapshot cannot be read ({exc})"
        ) from None
    if stored.spec_hash != spec.spec_hash:
        raise SpecConflict(
            f"bundle {spec.id!r} version {spec.version} changed since it was published; "
            "give the changed bundle a new version number / 事项已发布的版本内容被修改，请提高版本号"
        )
    log.info("bundle %s version %s: published hash re-keyed to the schema-%s hash (content unchanged)",
             spec.id, spec.version, SPEC_SCHEMA_VERSION)
    row.spec_hash = spec.spec_hash


def conflicts(session: Session, registry: BundleRegistry) -> list[BundleDiff]:
    """The current bundles whose content differs from the published version of the same number
    (what :func:`publish_bundles` would refuse), each as the diff from the published content:
    checked before a deployment with ``onevisit bundles check --db``."""
    published = {(row.bundle_id, row.version): row for row in session.scalars(select(BundleVersion))}
    out: list[BundleDiff] = []
    for spec in registry:
        row = published.get((spec.id, spec.version))
        if row is None or spec.id in registry.drafts or row.spec_hash == spec.spec_hash:
            continue
        stored = BundleSpec.from_snapshot(row.snapshot)
        if stored.spec_hash != spec.spec_hash:
            out.append(diff_specs(stored, spec))
    return out


@dataclass(frozen=True)
class PublishedVersion:
    """One row of a bundle's version history."""

    version: int
    spec_hash: str
    published_at: datetime
    spec: BundleSpec


def published_versions(session: Session, bundle_id: str) -> list[PublishedVersion]:
    """Every published version of a bundle, oldest first, each with its (migrated) spec."""
    rows = session.scalars(
        select(BundleVersion).where(BundleVersion.bundle_id == bundle_id).order_by(BundleVersion.version)
    )
    return [PublishedVersion(r.version, r.spec_hash, r.published_at, BundleSpec.from_snapshot(r.snapshot)) for r in rows]


def version_spec(session: Session, registry: BundleRegistry, bundle_id: str, version: int) -> BundleSpec:
    """Version ``version`` of a bundle: as published, else the current (or draft) file if it has
    that version number; :class:`NotFound` otherwise."""
    row = session.scalars(
        select(BundleVersion).where(BundleVersion.bundle_id == bundle_id, BundleVersion.version == version)
    ).one_or_none()
    if row is not None:
        return BundleSpec.from_snapshot(row.snapshot)
    current = registry.bundles.get(bundle_id)
    if current is not None and current.version == version:
        return current
    raise NotFound(f"bundle {bundle_id!r} has no version {version} / 事项 {bundle_id} 没有版本 {version}",
                   field="version")


def diff_versions(session: Session, registry: BundleRegistry, bundle_id: str, old: int, new: int) -> BundleDiff:
    """Steps added, removed and changed from version ``old`` to ``new`` of a bundle (each as
    published, else the current file's if it has that number)."""
    return diff_specs(version_spec(session, registry, bundle_id, old), version_spec(session, registry, bundle_id, new))
