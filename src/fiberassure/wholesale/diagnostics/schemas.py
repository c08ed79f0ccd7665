"""Rendering service-test rows and specifications as their TMF653 wire form."""

from fiberassure.tmf import service_test as tmf
from fiberassure.tmf.service_test import SERVICE_TEST_BASE_PATH, ServiceTestState
from fiberassure.wholesale.diagnostics.models import ServiceTest
from fiberassure.wholesale.diagnostics.quotas import QuotaStatus
from fiberassure.wholesale.diagnostics.specifications import (
    MEASURES,
    SPECIFICATIONS_UPDATED,
    Specification,
)


def service_test_href(base_url: str, test_id: str) -> str:
    return f"{base_url.rstrip('/')}{SERVICE_TEST_BASE_PATH}/serviceTest/{test_id}"


def specification_href(base_url: str, spec_id: str) -> str:
    return f"{base_url.rstrip('/')}{SERVICE_TEST_BASE_PATH}/serviceTestSpecification/{spec_id}"


def to_tmf(test: ServiceTest, base_url: str) -> tmf.ServiceTest:
    return tmf.ServiceTest(
        id=test.id,
        href=service_test_href(base_url, test.id),
        name=test.name,
        description=test.description,
        state=ServiceTestState(test.state),
        start_date_time=test.start_date_time,
        end_date_time=test.end_date_time,
        related_service=tmf.ServiceRef(id=test.service_id),
        test_specification=tmf.SpecificationRef(
            id=test.specification_id,
            href=specification_href(base_url, test.specification_id),
            version=test.specification_version,
        ),
        test_measure=[tmf.TestMeasure.model_validate(m) for m in test.test_measures or ()],
        outcome=tmf.Outcome.model_validate(test.outcome) if test.outcome else None,
        failure_reason=(
            tmf.FailureReason.model_validate(test.failure_reason) if test.failure_reason else None
        ),
        valid_for=(
            tmf.TimePeriodOut(start_date_time=test.end_date_time, end_date_time=test.valid_until)
            if test.end_date_time and test.valid_until
            else None
        ),
        schema_location=f"{base_url.rstrip('/')}/openapi.json",
    )


def specification_to_tmf(spec: Specification, base_url: str) -> tmf.ServiceTestSpecification:
    return tmf.ServiceTestSpecification(
        id=spec.id,
        href=specification_href(base_url, spec.id),
        name=spec.name,
        description=spec.description,
        version=spec.version,
        last_update=SPECIFICATIONS_UPDATED,
        test_measure_definition=[MEASURES[name].definition() for name in spec.measures],
    )


QUOTA_DESCRIPTIONS = {
    "perOperatorPerDay": "Tests per retail operator per UTC day",
    "perServicePerHour": "Tests per line per clock hour",
}


def quota_to_tmf(status: QuotaStatus) -> tmf.Quota:
    window = status.window
    return tmf.Quota(
        name=window.name,
        description=QUOTA_DESCRIPTIONS[window.name],
        related_service=tmf.ServiceRef(id=window.service_id) if window.service_id else None,
        limit=window.limit,
        used=status.used,
        remaining=status.remaining,
        window="P1D" if window.name == "perOperatorPerDay" else "PT1H",
        window_start=window.start,
        reset_time=window.reset,
    )
