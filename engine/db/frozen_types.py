"""Column types as the migrations knew them, frozen: a migration must keep meaning what it meant
when it was written, whatever later happens to the live models (:mod:`engine.db.models`).

Never edit a class here once a migration uses it; a changed type is a new class beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """engine.db.models.UTCDateTime as of revisions 0001–0006: naive UTC on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)
