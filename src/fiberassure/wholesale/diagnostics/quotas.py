"""Service-test quotas: per operator per UTC day, and per line per clock hour.

Windows are fixed, not sliding: a limit of 10 per hour gives 10 tests between 14:00 and
15:00, and all 10 again at 15:00. Fixed windows are what an operator can read off
`/serviceTest/limits` and plan with. A test is counted when it is accepted and given back
when it fails on the wholesale side (adapter timeout, OLT unreachable, ONT unknown): only
tests that produced a result use up a quota.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.errors import NotFound, QuotaExceeded
from fiberassure.wholesale.diagnostics.models import ServiceTest
from fiberassure.wholesale.diagnostics.repository import QuotaRepository
from fiberassure.wholesale.operators.repository import OperatorRepository
from fiberassure.wholesale.settings import Settings

PER_OPERATOR_PER_DAY = "perOperatorPerDay"
PER_SERVICE_PER_HOUR = "perServicePerHour"
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def hour_start(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class QuotaWindow:
    operator_id: str
    name: str
    limit: int
    length: timedelta
    start: datetime
    service_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}:{self.service_id}" if self.service_id else self.name

    @property
    def reset(self) -> datetime:
        return self.start + self.length


@dataclass(frozen=True)
class QuotaStatus:
    window: QuotaWindow
    used: int

    @property
    def remaining(self) -> int:
        return max(self.window.limit - self.used, 0)


def rate_limit_headers(statuses: list[QuotaStatus], now: datetime) -> dict[str, str]:
    """`X-RateLimit-*` for the quota closest to running out. `Reset` is in seconds from now
    (as `Retry-After`), not an epoch time."""
    tightest = min(statuses, key=lambda s: (s.remaining, s.window.reset))
    return {
        "X-RateLimit-Limit": str(tightest.window.limit),
        "X-RateLimit-Remaining": str(tightest.remaining),
        "X-RateLimit-Reset": str(_seconds_until(tightest.window.reset, now)),
    }


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(math.ceil((when - now).total_seconds()), 0)


class Quotas:
    def __init__(self, session: AsyncSession, settings: Settings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.usage = QuotaRepository(session)

    async def limits(self, operator_id: str) -> tuple[int, int]:
        """(tests per day, tests per line per hour) for the operator."""
        operator = await OperatorRepository(self.session).get(operator_id)
        if operator is None:
            raise NotFound(f"no operator {operator_id}")
        per_day, per_hour = operator.test_quota_per_day, operator.test_quota_per_service_per_hour
        return (
            self.settings.test_quota_per_day if per_day is None else per_day,
            self.settings.test_quota_per_service_per_hour if per_hour is None else per_hour,
        )

    async def set_limits(
        self, operator_id: str, per_day: int | None, per_hour: int | None, changed: set[str]
    ) -> tuple[int, int]:
        """Give one operator its own limits (None: back to the deployment's default)."""
        operator = await OperatorRepository(self.session).get(operator_id)
        if operator is None:
            raise NotFound(f"no operator {operator_id}")
        if PER_OPERATOR_PER_DAY in changed:
            operator.test_quota_per_day = per_day
        if PER_SERVICE_PER_HOUR in changed:
            operator.test_quota_per_service_per_hour = per_hour
        return await self.limits(operator_id)

    async def windows(self, operator_id: str, service_id: str) -> tuple[QuotaWindow, QuotaWindow]:
        per_day, per_hour = await self.limits(operator_id)
        return (
            QuotaWindow(operator_id, PER_OPERATOR_PER_DAY, per_day, DAY, day_start(self.now)),
            QuotaWindow(
                operator_id, PER_SERVICE_PER_HOUR, per_hour, HOUR, hour_start(self.now), service_id
            ),
        )

    async def take(self, day: QuotaWindow, hour: QuotaWindow) -> list[QuotaStatus]:
        """Count one test in both windows (from `windows`), or raise QuotaExceeded (429)
        naming the one that is used up; the caller's transaction then rolls back whatever
        was counted. The line's window first: the operator's is the contended one."""
        statuses = {}
        for window in (hour, day):
            used = await self.usage.take(day.operator_id, window.key, window.start, window.limit)
            if used < 0:
                full = QuotaStatus(window, window.limit)
                wait = _seconds_until(window.reset, self.now)
                scope = f"line {window.service_id}" if window.service_id else "your operator"
                raise QuotaExceeded(
                    f"{window.name}: {window.limit} tests for {scope} until "
                    f"{window.reset.isoformat()}; try again in {wait} s",
                    details={
                        "quota": window.name,
                        "limit": window.limit,
                        "resetTime": window.reset.isoformat(),
                    },
                    headers={"Retry-After": str(wait), **rate_limit_headers([full], self.now)},
                )
            statuses[window.name] = QuotaStatus(window, used)
        return [statuses[day.name], statuses[hour.name]]

    async def refund(self, test: ServiceTest) -> None:
        """Give a test back to the windows it was counted in."""
        await self.usage.give_back(test.operator_id, PER_OPERATOR_PER_DAY, test.quota_day_start)
        await self.usage.give_back(
            test.operator_id, f"{PER_SERVICE_PER_HOUR}:{test.service_id}", test.quota_hour_start
        )
        test.quota_refunded = True

    async def status(self, operator_id: str, service_ids: list[str]) -> list[QuotaStatus]:
        """The operator's daily quota, then the hourly quota of every line it tested this
        hour and of every line in `service_ids`."""
        per_day, per_hour = await self.limits(operator_id)
        day = QuotaWindow(operator_id, PER_OPERATOR_PER_DAY, per_day, DAY, day_start(self.now))
        statuses = [QuotaStatus(day, await self.usage.used(operator_id, day.key, day.start))]
        hour = hour_start(self.now)
        used = {
            row.quota.split(":", 1)[1]: row.used
            for row in await self.usage.in_window(operator_id, f"{PER_SERVICE_PER_HOUR}:", hour)
        }
        for service_id in sorted(set(used) | set(service_ids)):
            window = QuotaWindow(
                operator_id, PER_SERVICE_PER_HOUR, per_hour, HOUR, hour, service_id
            )
            statuses.append(QuotaStatus(window, used.get(service_id, 0)))
        return statuses
