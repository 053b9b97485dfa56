"""What every service function needs besides a session: specs, calendar, clock, handlers.

Published bundle versions live in the ``bundle_versions`` table; a case is interpreted with
the snapshot it was accepted under, so publishing version 2 never changes a running case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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
from engine.errors import DomainError, NotFound
from engine.machine.handlers import HandlerRegistry, default_handlers
from engine.spec.loader import BundleRegistry, load_registry
from engine.spec.models import BundleSpec


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
    region: str = "430100"
    """Region code (GB/T 2260) for receipts when neither the request nor the clerk names one."""
    _snapshots: dict[str, BundleSpec] = field(default_factory=dict, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    @classmethod
    def default(cls, clock: Clock | None = None) -> Runtime:
        """The runtime of a deployment: its settings, the built-in handlers and prefill
        providers, and the plugins it installed (see :mod:`engine.plugins`)."""
        from engine.people.prefill import default_providers
        from engine.plugins import HANDLERS_GROUP, PREFILL_GROUP, install_plugins
        from engine.settings import get_settings

        settings = get_settings()
        return cls(
            registry=load_registry(settings.bundles_dir, settings.fields_file),
            calendar=WorkingCalendar.default(settings.calendar_file),
            clock=clock or SystemClock(),
            handlers=install_plugins(default_handlers(), group=HANDLERS_GROUP, configured=settings.handler_plugins),
            prefill=install_plugins(default_providers(), group=PREFILL_GROUP, configured=settings.prefill_plugins),
            region=settings.region,
        )

    def today(self) -> date:
        return local_date(self.clock.now())

    def current_spec(self, bundle_id: str) -> BundleSpec:
        try:
            return self.registry.get(bundle_id)
        except KeyError:
            raise NotFound(f"unknown bundle {bundle_id!r}", field="bundle_id") from None

    def spec_for(self, session: Session, case: Case) -> BundleSpec:
        """The exact spec a case was accepted under (cached by hash)."""
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
            ).one()
            spec = BundleSpec.from_snapshot(row.snapshot)
        with self._lock:
            self._snapshots[case.spec_hash] = spec
        return spec


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
    published = {
        (row.bundle_id, row.version): row.spec_hash for row in session.scalars(select(BundleVersion))
    }
    new: list[BundleSpec] = []
    for spec in runtime.registry:
        known = published.get((spec.id, spec.version))
        if known is None:
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
        elif known != spec.spec_hash:
            raise SpecConflict(
                f"bundle {spec.id!r} version {spec.version} changed since it was published; "
                "give the changed bundle a new version number"
            )
    session.commit()
    return new
