"""Service-test rules (TMF653 profile): accept a test, count it against the quotas, and
write each step of its life with its event. Nothing here commits.

acknowledged → inProgress → completed | failed. Every change writes the new state and one
outbox event (`ServiceTestCreateEvent` for the first, `ServiceTestAttributeValueChangeEvent`
after) in the caller's transaction; the request that accepts a test also writes the job row
the runner picks it up from.
"""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf import service_test as tmf
from fiberassure.tmf.errors import InvalidRequest, NotFound
from fiberassure.tmf.service_test import FailureCode, ServiceTestEventType, ServiceTestState
from fiberassure.wholesale.diagnostics.models import ServiceTest, ServiceTestJob
from fiberassure.wholesale.diagnostics.quotas import Quotas, QuotaStatus
from fiberassure.wholesale.diagnostics.repository import (
    JobRepository,
    ServiceTestFilter,
    ServiceTestRepository,
)
from fiberassure.wholesale.diagnostics.schemas import to_tmf
from fiberassure.wholesale.diagnostics.specifications import (
    SPECIFICATIONS,
    Specification,
    diagnose,
    measures_for,
)
from fiberassure.wholesale.events.service import record_event
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.network.adapter import Line, OntReading
from fiberassure.wholesale.settings import Settings

RESOURCE_TYPE = "serviceTest"


def specification(spec_id: str) -> Specification:
    spec = SPECIFICATIONS.get(spec_id)
    if spec is None:
        raise NotFound(f"no service test specification {spec_id}")
    return spec


class ServiceTestService:
    def __init__(
        self, session: AsyncSession, settings: Settings, now: datetime, base_url: str
    ) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.base_url = base_url
        self.tests = ServiceTestRepository(session)
        self.quotas = Quotas(session, settings, now)

    def render(self, test: ServiceTest) -> tmf.ServiceTest:
        return to_tmf(test, self.base_url)

    # -- retail operator ----------------------------------------------------------------------

    async def create(
        self, operator_id: str, body: tmf.ServiceTestCreate
    ) -> tuple[ServiceTest, list[QuotaStatus]]:
        """Accept a test of one of the operator's lines and queue it for the runner."""
        line = await ServiceRepository(self.session).get_for_operator(
            body.related_service.id, operator_id
        )
        if line is None:
            # Another operator's line is indistinguishable from no line at all.
            raise InvalidRequest(
                f"relatedService {body.related_service.id} is not one of your services",
                details={"field": "relatedService"},
            )
        spec = SPECIFICATIONS.get(body.test_specification.id)
        if spec is None:
            raise InvalidRequest(
                f"testSpecification {body.test_specification.id} is not known; one of "
                f"{', '.join(SPECIFICATIONS)} (GET /serviceTestSpecification)",
                details={"field": "testSpecification"},
            )
        day, hour = await self.quotas.windows(operator_id, line.id)
        test = ServiceTest(
            id=str(uuid.uuid4()),
            operator_id=operator_id,
            service_id=line.id,
            name=body.name,
            description=body.description,
            specification_id=spec.id,
            specification_version=spec.version,
            state=ServiceTestState.ACKNOWLEDGED.value,
            start_date_time=self.now,
            ont_serial_number=line.ont_serial_number,
            quota_day_start=day.start,
            quota_hour_start=hour.start,
            quota_refunded=False,
            revision=0,
        )
        self.tests.add(test)
        JobRepository(self.session).add(
            ServiceTestJob(service_test_id=test.id, due_at=self.now, attempts=0)
        )
        await self._record(test, ServiceTestEventType.CREATE)
        # Counted last, after the rows are written: the operator's daily counter is one row
        # every order of the operator updates, and its row lock is held until commit, so it
        # is held for as little as possible. Over a quota, the transaction rolls back.
        await self.session.flush()
        quota = await self.quotas.take(day, hour)
        return test, quota

    async def get_for_operator(self, test_id: str, operator_id: str) -> ServiceTest:
        test = await self.tests.get_for_operator(test_id, operator_id)
        if test is None:
            raise NotFound(f"no service test {test_id}")
        return test

    async def search(
        self, criteria: ServiceTestFilter, offset: int, limit: int
    ) -> tuple[list[ServiceTest], int]:
        return await self.tests.search(criteria, offset, limit)

    async def limits(self, operator_id: str, service_id: str | None) -> list[QuotaStatus]:
        service_ids = []
        if service_id is not None:
            line = await ServiceRepository(self.session).get_for_operator(service_id, operator_id)
            if line is None:
                raise NotFound(f"no service {service_id}")
            service_ids.append(line.id)
        return await self.quotas.status(operator_id, service_ids)

    # -- the runner ---------------------------------------------------------------------------

    async def start(self, test: ServiceTest) -> None:
        test.state = ServiceTestState.IN_PROGRESS.value
        await self._record(test, ServiceTestEventType.ATTRIBUTE_VALUE_CHANGE, "state")

    async def complete(self, test: ServiceTest, line: Line, reading: OntReading) -> None:
        """Store the measures and what they mean; the event carries every result."""
        spec = SPECIFICATIONS[test.specification_id]
        test.state = ServiceTestState.COMPLETED.value
        test.end_date_time = reading.captured_at
        test.valid_until = reading.captured_at + self.settings.test_result_validity
        test.test_measures = [m.to_wire() for m in measures_for(spec, reading)]
        test.outcome = diagnose(reading, line.olt_name, line.pon_port).to_wire()
        await self._record(
            test,
            ServiceTestEventType.ATTRIBUTE_VALUE_CHANGE,
            "state,endDateTime,testMeasure,outcome,validFor",
        )

    async def fail(self, test: ServiceTest, code: FailureCode, message: str) -> None:
        """The test could not be carried out: a wholesale-side failure, so it is refunded."""
        await self.quotas.refund(test)
        test.state = ServiceTestState.FAILED.value
        test.end_date_time = self.now
        test.failure_reason = tmf.FailureReason(
            code=code, message=message[:500], quota_refunded=True
        ).to_wire()
        await self._record(
            test, ServiceTestEventType.ATTRIBUTE_VALUE_CHANGE, "state,endDateTime,failureReason"
        )

    async def _record(
        self, test: ServiceTest, event_type: ServiceTestEventType, field_path: str | None = None
    ) -> None:
        # No flush per test: the runner writes a batch of tests and their events in one
        # round trip at commit. Only the lease holder (or the accepting request) writes a
        # test, so the revision read in this transaction is the row's.
        test.revision += 1
        await record_event(
            self.session,
            operator_id=test.operator_id,
            resource_type=RESOURCE_TYPE,
            resource_id=test.id,
            resource=self.render(test).to_wire(),
            sequence_number=test.revision,
            event_type=event_type.value,
            now=self.now,
            field_path=field_path,
        )
