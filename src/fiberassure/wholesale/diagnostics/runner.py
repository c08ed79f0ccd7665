"""The test runner: carries out accepted service tests through the network adapter.

A pass claims due job rows in one short transaction (leasing them and moving their tests to
inProgress), calls the adapter for each outside any transaction, many at once, and records
the results in another short transaction. A runner that dies mid-test loses only its lease:
the job is claimed again when the lease ends; after `MAX_ATTEMPTS` claims the test fails.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass

import structlog

from fiberassure.tmf.service_test import FailureCode, ServiceTestState
from fiberassure.wholesale import metrics
from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.diagnostics.repository import JobRepository, ServiceTestRepository
from fiberassure.wholesale.diagnostics.service import ServiceTestService
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.network.adapter import (
    AdapterError,
    Line,
    NetworkAdapter,
    OntReading,
    line_of,
)
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.work import run_leased_work

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class ClaimedTest:
    test_id: str
    lease_token: str
    line: Line


@dataclass(frozen=True)
class TestRun:
    __test__ = False  # not a pytest test class

    claimed: ClaimedTest
    reading: OntReading | None = None
    failure: FailureCode | None = None
    message: str = ""


class TestRunner:
    __test__ = False

    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        adapter: NetworkAdapter,
        base_url: str,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.adapter = adapter
        self.base_url = base_url

    async def claim(self, limit: int) -> list[ClaimedTest]:
        """Lease up to `limit` due tests; a newly claimed test goes to inProgress."""
        now = self.clock.now()
        claimed = []
        async with self.database.transaction() as session:
            jobs = JobRepository(session)
            due = await jobs.claim_due(now, limit)
            if not due:
                return []
            tests = await ServiceTestRepository(session).get_many(
                [job.service_test_id for job in due]
            )
            lines = await ServiceRepository(session).get_many(
                {test.service_id for test in tests.values()}
            )
            service = ServiceTestService(session, self.settings, now, self.base_url)
            for job in due:
                test = tests[job.service_test_id]
                job.attempts += 1
                if job.attempts > MAX_ATTEMPTS:
                    await service.fail(
                        test,
                        FailureCode.RUNNER_LOST,
                        f"no test runner finished the test in {MAX_ATTEMPTS} attempts",
                    )
                    await session.delete(job)
                    metrics.SERVICE_TESTS.labels(state="failed", code=FailureCode.RUNNER_LOST).inc()
                    continue
                job.lease_until = now + self.settings.test_lease
                job.lease_token = str(uuid.uuid4())
                if test.state == ServiceTestState.ACKNOWLEDGED:
                    await service.start(test)
                claimed.append(
                    ClaimedTest(test.id, job.lease_token, line_of(lines[test.service_id]))
                )
        return claimed

    async def execute(self, claimed: ClaimedTest) -> TestRun:
        """Read the ONT. Never raises: every failure is a result."""
        timeout = self.settings.adapter_timeout.total_seconds()
        started = time.perf_counter()
        try:
            reading = await asyncio.wait_for(self.adapter.read_ont(claimed.line), timeout)
        except TimeoutError:
            return TestRun(
                claimed,
                failure=FailureCode.ADAPTER_TIMEOUT,
                message=f"the network did not answer within {timeout:g} s",
            )
        except AdapterError as error:
            return TestRun(claimed, failure=error.code, message=str(error))
        except Exception as error:  # a bug in an adapter must not stop the runner
            log.exception("network adapter failed", test_id=claimed.test_id)
            return TestRun(claimed, failure=FailureCode.ADAPTER_ERROR, message=type(error).__name__)
        finally:
            metrics.ADAPTER_SECONDS.observe(time.perf_counter() - started)
        return TestRun(claimed, reading=reading)

    async def record(self, runs: list[TestRun]) -> None:
        """Write results: completed with measures and outcome, or failed and refunded."""
        if not runs:
            return
        async with self.database.transaction() as session:
            jobs = JobRepository(session)
            held = await jobs.still_leased({r.claimed.test_id: r.claimed.lease_token for r in runs})
            tests = await ServiceTestRepository(session).get_many(held)
            service = ServiceTestService(session, self.settings, self.clock.now(), self.base_url)
            for run in runs:
                test = tests.get(run.claimed.test_id)
                if test is None:
                    continue  # the lease ran out and another runner took the test over
                if run.reading is not None:
                    await service.complete(test, run.claimed.line, run.reading)
                    code = (test.outcome or {}).get("code", "")
                    metrics.SERVICE_TESTS.labels(state="completed", code=code).inc()
                else:
                    failure = run.failure or FailureCode.ADAPTER_ERROR
                    await service.fail(test, failure, run.message)
                    metrics.SERVICE_TESTS.labels(state="failed", code=failure).inc()
            await jobs.remove(list(tests))

    async def run_once(self, limit: int | None = None) -> int:
        """Claim, execute concurrently and record one batch. Returns how many ran."""
        claimed = await self.claim(limit or self.settings.test_runner_concurrency)
        runs = await asyncio.gather(*(self.execute(c) for c in claimed))
        await self.record(list(runs))
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        """Run tests until `stop` is set, up to `test_runner_concurrency` at once."""
        await run_leased_work(
            "test runner",
            self.claim,
            self.execute,
            self.record,
            concurrency=self.settings.test_runner_concurrency,
            poll_seconds=self.settings.test_runner_poll_interval.total_seconds(),
            stop=stop,
        )
