"""TMF653 v4 Service Test, as profiled by fiberassure (DESIGN §5, docs/api-profile.md).

These models are the wire format on both sides: the wholesale server renders them and the
retail SDK parses them. Profile extensions: `outcome` and `failureReason` on the test,
`thresholdRule` on each measure.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from fiberassure.tmf.schema import TMFInput, TMFModel

SERVICE_TEST = "ServiceTest"
SERVICE_TEST_BASE_PATH = "/tmf-api/serviceTestManagement/v4"


class ServiceTestState(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    FAILED = "failed"


FINAL_STATES = frozenset({ServiceTestState.COMPLETED, ServiceTestState.FAILED})


class ServiceTestEventType(StrEnum):
    CREATE = "ServiceTestCreateEvent"
    ATTRIBUTE_VALUE_CHANGE = "ServiceTestAttributeValueChangeEvent"


# The seed names the results notification this way; a listener accepts it as the TMF name.
SEED_RESULT_NOTIFICATION = "ServiceTestAttributeValueChangeNotification"


class Rating(StrEnum):
    GREEN = "green"  # nothing wrong on the wholesale network
    AMBER = "amber"  # degraded, or a cause at the subscriber's side
    RED = "red"  # the service cannot work


class OutcomeCode(StrEnum):
    NO_FAULT_FOUND = "NO_FAULT_FOUND"
    CUSTOMER_POWER_OFF = "CUSTOMER_POWER_OFF"
    FIBRE_LOS = "FIBRE_LOS"
    LOW_OPTICAL_POWER = "LOW_OPTICAL_POWER"
    ONT_LASER_DEGRADED = "ONT_LASER_DEGRADED"
    INTERMITTENT_LINK = "INTERMITTENT_LINK"
    ONT_FAULT = "ONT_FAULT"
    PON_OUTAGE = "PON_OUTAGE"


class FailureCode(StrEnum):
    """Why a test could not be carried out. Every one is on the wholesale side: refunded."""

    ADAPTER_TIMEOUT = "ADAPTER_TIMEOUT"
    OLT_UNREACHABLE = "OLT_UNREACHABLE"
    ONT_UNKNOWN = "ONT_UNKNOWN"
    ADAPTER_ERROR = "ADAPTER_ERROR"
    RUNNER_LOST = "RUNNER_LOST"


Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]

# Attributes the server owns: accepted in a create body and ignored, since TMF clients often
# send a whole resource back.
SERVER_SET_ATTRIBUTES = frozenset(
    {
        "id",
        "href",
        "state",
        "startDateTime",
        "endDateTime",
        "testMeasure",
        "validFor",
        "outcome",
        "failureReason",
        "@baseType",
        "@schemaLocation",
    }
)


class ServiceRefInput(TMFInput):
    id: Identifier
    href: Annotated[str, Field(max_length=500)] | None = None
    name: ShortText | None = None
    referred_type: Literal["Service"] | None = Field(default=None, alias="@referredType")
    type: str | None = Field(default=None, alias="@type")


class SpecificationRefInput(TMFInput):
    id: Identifier
    href: Annotated[str, Field(max_length=500)] | None = None
    name: ShortText | None = None
    version: Annotated[str, Field(max_length=20)] | None = None
    referred_type: Literal["ServiceTestSpecification"] | None = Field(
        default=None, alias="@referredType"
    )
    type: str | None = Field(default=None, alias="@type")


class ServiceTestCreate(TMFInput):
    """Body of `POST /serviceTest`."""

    name: ShortText
    description: LongText | None = None
    related_service: ServiceRefInput
    test_specification: SpecificationRefInput
    mode: Literal["automated"] | None = None
    type: Literal["ServiceTest"] = Field(default="ServiceTest", alias="@type")

    @model_validator(mode="before")
    @classmethod
    def _drop_server_set(cls, body: Any) -> Any:
        if isinstance(body, dict):
            return {k: v for k, v in body.items() if k not in SERVER_SET_ATTRIBUTES}
        return body


# -- what the server sends ------------------------------------------------------------------


class ServiceRef(TMFModel):
    id: str
    href: str | None = None
    name: str | None = None
    referred_type: str = Field(default="Service", alias="@referredType")


class SpecificationRef(TMFModel):
    id: str
    href: str | None = None
    name: str | None = None
    version: str | None = None
    referred_type: str = Field(default="ServiceTestSpecification", alias="@referredType")


class Characteristic(TMFModel):
    name: str
    value_type: str
    value: Any


class ThresholdRule(TMFModel):
    """When a measure is out of order (MetricDefMeasureThresholdRule)."""

    name: str
    description: str
    conformance_comparator_lower: str | None = None
    conformance_target_lower: str | None = None
    conformance_comparator_upper: str | None = None
    conformance_target_upper: str | None = None
    conformance_target_exact: str | None = None
    threshold_rule_severity: str


class ThresholdRuleViolation(ThresholdRule):
    """A threshold rule the measured value broke (MeasureThresholdRuleViolation)."""

    type: str = Field(default="MeasureThresholdRuleViolation", alias="@type")


class TestMeasure(TMFModel):
    __test__ = False  # not a pytest test class
    metric_name: str
    metric_description: str
    unit_of_measure: str | None = None
    capture_date_time: datetime
    capture_method: str
    value: Characteristic
    threshold_rule: list[ThresholdRule] = []
    rule_violation: list[ThresholdRuleViolation] = []


class Outcome(TMFModel):
    """What the measures mean (profile extension)."""

    rating: Rating
    code: OutcomeCode
    diagnosis: str
    fault_ticket_warranted: bool


class FailureReason(TMFModel):
    code: FailureCode
    message: str
    quota_refunded: bool = True


class TimePeriodOut(TMFModel):
    start_date_time: datetime
    end_date_time: datetime | None = None


class ServiceTest(TMFModel):
    """A service test as the server returns it and as events carry it."""

    id: str
    href: str
    name: str
    description: str | None = None
    mode: str = "automated"
    state: ServiceTestState
    start_date_time: datetime
    end_date_time: datetime | None = None
    related_service: ServiceRef
    test_specification: SpecificationRef
    test_measure: list[TestMeasure] = []
    outcome: Outcome | None = None
    failure_reason: FailureReason | None = None
    valid_for: TimePeriodOut | None = None
    type: str = Field(default=SERVICE_TEST, alias="@type")
    schema_location: str | None = Field(default=None, alias="@schemaLocation")


class TestMeasureDefinition(TMFModel):
    __test__ = False
    name: str
    metric_name: str
    metric_description: str
    unit_of_measure: str | None = None
    value_type: str
    capture_method: str
    threshold_rule: list[ThresholdRule] = []


class ServiceTestSpecification(TMFModel):
    id: str
    href: str
    name: str
    description: str
    version: str
    lifecycle_status: str = "active"
    last_update: datetime
    test_measure_definition: list[TestMeasureDefinition]
    type: str = Field(default="ServiceTestSpecification", alias="@type")


class Quota(TMFModel):
    """One query limit and how much of it is used (`GET /serviceTest/limits`)."""

    name: str
    description: str
    related_service: ServiceRef | None = None
    limit: int
    used: int
    remaining: int
    window: str  # ISO 8601 duration of the window, e.g. P1D
    window_start: datetime
    reset_time: datetime
    type: str = Field(default="ServiceTestQuota", alias="@type")
