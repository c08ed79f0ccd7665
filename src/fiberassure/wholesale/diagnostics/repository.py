from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, Update, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.wholesale.diagnostics.models import QuotaUsage, ServiceTest, ServiceTestJob

Scopable = TypeVar("Scopable", Select[Any], Update)


@dataclass(frozen=True)
class ServiceTestFilter:
    operator_id: str
    service_id: str | None = None
    states: Sequence[str] = ()
    specification_ids: Sequence[str] = ()
    started_after: datetime | None = None
    started_before: datetime | None = None
    descending: bool = True


class ServiceTestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _scoped(statement: Select[ServiceTest], operator_id: str) -> Select[ServiceTest]:
        """The only place where a retail operator's view of tests is narrowed."""
        return statement.where(ServiceTest.operator_id == operator_id)

    async def get_for_operator(self, test_id: str, operator_id: str) -> ServiceTest | None:
        statement = self._scoped(select(ServiceTest).where(ServiceTest.id == test_id), operator_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_many(self, test_ids: Sequence[str]) -> dict[str, ServiceTest]:
        """Unscoped: for the test runner, which works for every operator."""
        statement = select(ServiceTest).where(ServiceTest.id.in_(test_ids))
        return {test.id: test for test in (await self.session.execute(statement)).scalars()}

    async def search(
        self, criteria: ServiceTestFilter, offset: int, limit: int
    ) -> tuple[list[ServiceTest], int]:
        statement = self._scoped(select(ServiceTest), criteria.operator_id)
        if criteria.service_id is not None:
            statement = statement.where(ServiceTest.service_id == criteria.service_id)
        if criteria.states:
            statement = statement.where(ServiceTest.state.in_(criteria.states))
        if criteria.specification_ids:
            statement = statement.where(
                ServiceTest.specification_id.in_(criteria.specification_ids)
            )
        if criteria.started_after is not None:
            statement = statement.where(ServiceTest.start_date_time > criteria.started_after)
        if criteria.started_before is not None:
            statement = statement.where(ServiceTest.start_date_time < criteria.started_before)
        total = (
            await self.session.execute(select(func.count()).select_from(statement.subquery()))
        ).scalar_one()
        column = ServiceTest.start_date_time
        newest = column.desc() if criteria.descending else column.asc()
        page = statement.order_by(newest, ServiceTest.id.asc()).offset(offset).limit(limit)
        return list((await self.session.execute(page)).scalars()), int(total)

    async def latest_completed(
        self, service_id: str, operator_id: str, since: datetime
    ) -> ServiceTest | None:
        statement = self._scoped(
            select(ServiceTest)
            .where(ServiceTest.service_id == service_id)
            .where(ServiceTest.state == "completed")
            .where(ServiceTest.end_date_time >= since)
            .order_by(ServiceTest.end_date_time.desc())
            .limit(1),
            operator_id,
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    def add(self, test: ServiceTest) -> None:
        self.session.add(test)


class JobRepository:
    """Unscoped: the runner works for every operator."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, job: ServiceTestJob) -> None:
        self.session.add(job)

    async def claim_due(self, now: datetime, limit: int) -> list[ServiceTestJob]:
        """Unscoped (the runner works for every operator): jobs that are due and not leased
        (or whose lease ran out), locked for this transaction; rows another runner holds are
        skipped, not waited for."""
        statement = (
            select(ServiceTestJob)
            .where(ServiceTestJob.due_at <= now)
            .where(or_(ServiceTestJob.lease_until.is_(None), ServiceTestJob.lease_until < now))
            .order_by(ServiceTestJob.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def still_leased(self, leases: Mapping[str, str]) -> list[str]:
        """Unscoped (the runner's own leases): of the (test id → lease token) pairs, the
        tests whose job this runner still holds, locked; a job whose lease ran out and was
        taken over is not among them."""
        if not leases:
            return []
        statement = (
            select(ServiceTestJob.service_test_id)
            .where(
                or_(
                    *(
                        and_(
                            ServiceTestJob.service_test_id == test_id,
                            ServiceTestJob.lease_token == token,
                        )
                        for test_id, token in leases.items()
                    )
                )
            )
            .with_for_update()
        )
        return list((await self.session.execute(statement)).scalars())

    async def remove(self, test_ids: Sequence[str]) -> None:
        """Unscoped: the runner removes the jobs of tests it finished."""
        if test_ids:
            await self.session.execute(
                delete(ServiceTestJob).where(ServiceTestJob.service_test_id.in_(test_ids))
            )


class QuotaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _scoped(statement: Scopable, operator_id: str) -> Scopable:
        """The only place where an operator's counters are narrowed."""
        return statement.where(QuotaUsage.operator_id == operator_id)

    async def take(self, operator_id: str, quota: str, window_start: datetime, limit: int) -> int:
        """Tenant row: counts in the operator's own row (the insert names it).

        Counts one test against a quota window, atomically: returns the new count, or -1
        when the window is full. One statement, so concurrent takes can never both get the
        last unit (the row lock serialises them on PostgreSQL, the write lock on SQLite)."""
        if limit <= 0:
            return -1
        dialect = sqlite if self.session.get_bind().dialect.name == "sqlite" else postgresql
        statement = dialect.insert(QuotaUsage).values(
            operator_id=operator_id, quota=quota, window_start=window_start, used=1
        )
        statement = statement.on_conflict_do_update(
            index_elements=[QuotaUsage.operator_id, QuotaUsage.quota, QuotaUsage.window_start],
            set_={"used": QuotaUsage.used + 1},
            where=QuotaUsage.used < limit,
        ).returning(QuotaUsage.used)
        used = (await self.session.execute(statement)).scalar_one_or_none()
        return -1 if used is None else int(used)

    async def give_back(self, operator_id: str, quota: str, window_start: datetime) -> None:
        await self.session.execute(
            self._scoped(update(QuotaUsage), operator_id)
            .where(QuotaUsage.quota == quota)
            .where(QuotaUsage.window_start == window_start)
            .where(QuotaUsage.used > 0)
            .values(used=QuotaUsage.used - 1)
        )

    async def used(self, operator_id: str, quota: str, window_start: datetime) -> int:
        statement = (
            self._scoped(select(QuotaUsage.used), operator_id)
            .where(QuotaUsage.quota == quota)
            .where(QuotaUsage.window_start == window_start)
        )
        return int((await self.session.execute(statement)).scalar_one_or_none() or 0)

    async def in_window(
        self, operator_id: str, quota_prefix: str, window_start: datetime
    ) -> list[QuotaUsage]:
        """The operator's counters of one kind (e.g. every line's hourly quota) in a window."""
        statement = (
            self._scoped(select(QuotaUsage), operator_id)
            .where(QuotaUsage.quota.startswith(quota_prefix, autoescape=True))
            .where(QuotaUsage.window_start == window_start)
            .order_by(QuotaUsage.quota)
        )
        return list((await self.session.execute(statement)).scalars())

    async def forget_before(self, before: datetime) -> int:
        """Unscoped housekeeping: drop counters of windows that started before `before`."""
        result = await self.session.execute(
            delete(QuotaUsage).where(QuotaUsage.window_start < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
