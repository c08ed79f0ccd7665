"""TMF653 Service Test API: HTTP in and out, nothing else."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from fiberassure.tmf import service_test as tmf
from fiberassure.tmf.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidQuery,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    UnsupportedMediaType,
    error_responses,
)
from fiberassure.tmf.query import (
    parse_datetime,
    parse_enum_list,
    parse_fields,
    parse_sort,
    refuse_unknown_parameters,
    select_fields,
)
from fiberassure.tmf.schema import TMFInput
from fiberassure.tmf.service_test import SERVICE_TEST_BASE_PATH, ServiceTestState
from fiberassure.wholesale.diagnostics.quotas import (
    PER_OPERATOR_PER_DAY,
    PER_SERVICE_PER_HOUR,
    Quotas,
    rate_limit_headers,
)
from fiberassure.wholesale.diagnostics.repository import ServiceTestFilter
from fiberassure.wholesale.diagnostics.schemas import quota_to_tmf, specification_to_tmf
from fiberassure.wholesale.diagnostics.service import ServiceTestService, specification
from fiberassure.wholesale.diagnostics.specifications import SPECIFICATIONS
from fiberassure.wholesale.http import (
    ClockDep,
    SessionDep,
    SettingsDep,
    require_json_body,
    require_scope,
)
from fiberassure.wholesale.idempotency import service as idempotency
from fiberassure.wholesale.operators.schemas import Scope
from fiberassure.wholesale.operators.service import Principal

router = APIRouter(prefix=SERVICE_TEST_BASE_PATH, tags=["TMF653 Service Test"])
RetailPrincipal = Annotated[Principal, Depends(require_scope(Scope.SERVICE_TEST))]
Identifier = Annotated[str, Path(alias="id", max_length=100)]
FieldsQuery = Annotated[
    str | None, Query(description="Comma list of attributes to return (id and href always).")
]
COMMON_ERRORS = (NotAuthenticated, Forbidden, InvalidQuery)
TEST_ATTRIBUTES = tuple(info.alias or name for name, info in tmf.ServiceTest.model_fields.items())
FILTERS = (
    "relatedService.id",
    "state",
    "testSpecification.id",
    "startDateTime.gt",
    "startDateTime.lt",
)


async def _service(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> ServiceTestService:
    return ServiceTestService(session, settings, clock.now(), request.app.state.base_url)


ServiceDep = Annotated[ServiceTestService, Depends(_service)]


@router.post(
    "/serviceTest",
    status_code=201,
    response_model=tmf.ServiceTest,
    summary="Order a test of one of your lines",
    dependencies=[Depends(require_json_body)],
    responses=error_responses(
        *COMMON_ERRORS,
        InvalidRequest,
        QuotaExceeded,
        IdempotencyKeyReused,
        PayloadTooLarge,
        UnsupportedMediaType,
    ),
)
async def create_service_test(
    body: tmf.ServiceTestCreate,
    principal: RetailPrincipal,
    service: ServiceDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retry-safe key: the same key and body return the first response "
            "(and count once against the quotas).",
        ),
    ] = None,
) -> JSONResponse:
    """The test is accepted (`acknowledged`) and runs in the background: its progress and
    results arrive as `ServiceTestAttributeValueChangeEvent` at your hub, or read them with
    `GET /serviceTest/{id}`. Every answer carries `X-RateLimit-Limit/Remaining/Reset` for the
    quota closest to running out; over a quota the answer is 429 with `Retry-After`."""
    assert principal.operator_id is not None
    create = idempotency.IdempotentCreate(
        service.session,
        principal.operator_id,
        idempotency_key,
        "POST serviceTest",
        body.model_dump(mode="json", by_alias=True, exclude_unset=True),
    )
    if previous := await create.previous():
        return JSONResponse(previous.body, status_code=previous.status, headers=previous.headers())
    test, quotas = await service.create(principal.operator_id, body)
    wire = service.render(test).to_wire()
    create.remember(idempotency.StoredResponse(201, wire, wire["href"]), service.now)
    headers = {"Location": wire["href"], **rate_limit_headers(quotas, service.now)}
    return JSONResponse(wire, status_code=201, headers=headers)


@router.get(
    "/serviceTest",
    response_model=list[tmf.ServiceTest],
    summary="Your tests, newest first",
    responses=error_responses(*COMMON_ERRORS),
)
async def list_service_tests(
    request: Request,
    principal: RetailPrincipal,
    service: ServiceDep,
    settings: SettingsDep,
    fields: FieldsQuery = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[
        int | None, Query(ge=1, description="Page size (FIBERASSURE_PAGE_LIMIT_MAX)")
    ] = None,
    sort: Annotated[
        str | None, Query(description="startDateTime; '-startDateTime' = newest first")
    ] = None,
    related_service_id: Annotated[
        str | None, Query(alias="relatedService.id", max_length=100)
    ] = None,
    state: Annotated[str | None, Query(description="Comma list, e.g. completed,failed")] = None,
    specification_id: Annotated[
        str | None, Query(alias="testSpecification.id", max_length=200)
    ] = None,
    start_gt: Annotated[str | None, Query(alias="startDateTime.gt")] = None,
    start_lt: Annotated[str | None, Query(alias="startDateTime.lt")] = None,
) -> JSONResponse:
    """Tests matching every given filter. `X-Total-Count` counts all matches,
    `X-Result-Count` those in this page."""
    assert principal.operator_id is not None
    refuse_unknown_parameters(request.query_params, FILTERS)
    limit = limit or settings.page_limit_default
    if limit > settings.page_limit_max:
        raise InvalidQuery(f"limit must be between 1 and {settings.page_limit_max}")
    _, descending = parse_sort(sort, {"startDateTime": "start_date_time"}, "-startDateTime")
    criteria = ServiceTestFilter(
        operator_id=principal.operator_id,
        service_id=related_service_id,
        states=[s.value for s in parse_enum_list(state, ServiceTestState, "state")]
        if state
        else (),
        specification_ids=[s.strip() for s in specification_id.split(",") if s.strip()]
        if specification_id
        else (),
        started_after=parse_datetime(start_gt, "startDateTime.gt") if start_gt else None,
        started_before=parse_datetime(start_lt, "startDateTime.lt") if start_lt else None,
        descending=descending,
    )
    selected = parse_fields(fields, TEST_ATTRIBUTES)
    tests, total = await service.search(criteria, offset, limit)
    body = [select_fields(service.render(t).to_wire(), selected) for t in tests]
    return JSONResponse(
        body, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(body))}
    )


# Routed before /serviceTest/{id}, or "limits" would be taken for a test id.
@router.get(
    "/serviceTest/limits",
    response_model=list[tmf.Quota],
    summary="Your query limits and how much of them is used",
    responses=error_responses(*COMMON_ERRORS, NotFound),
)
async def service_test_limits(
    request: Request,
    principal: RetailPrincipal,
    service: ServiceDep,
    related_service_id: Annotated[
        str | None,
        Query(alias="relatedService.id", max_length=100, description="Include this line."),
    ] = None,
) -> JSONResponse:
    """The daily quota of your operator, then the hourly quota of each line tested in the
    current hour (and of `relatedService.id`, if given): limit, used, remaining, window start
    and reset time."""
    assert principal.operator_id is not None
    refuse_unknown_parameters(request.query_params, ("relatedService.id",))
    statuses = await service.limits(principal.operator_id, related_service_id)
    return JSONResponse([quota_to_tmf(status).to_wire() for status in statuses])


@router.get(
    "/serviceTest/{id}",
    response_model=tmf.ServiceTest,
    summary="One of your tests, with its results once completed",
    responses=error_responses(*COMMON_ERRORS, NotFound),
)
async def get_service_test(
    request: Request,
    test_id: Identifier,
    principal: RetailPrincipal,
    service: ServiceDep,
    fields: FieldsQuery = None,
) -> JSONResponse:
    assert principal.operator_id is not None
    refuse_unknown_parameters(request.query_params, ())
    test = await service.get_for_operator(test_id, principal.operator_id)
    selected = parse_fields(fields, TEST_ATTRIBUTES)
    return JSONResponse(select_fields(service.render(test).to_wire(), selected))


@router.get(
    "/serviceTestSpecification",
    response_model=list[tmf.ServiceTestSpecification],
    summary="The tests you can order, with their measures, units and thresholds",
    responses=error_responses(NotAuthenticated, Forbidden),
)
async def list_specifications(request: Request, _: RetailPrincipal) -> JSONResponse:
    base_url = request.app.state.base_url
    return JSONResponse(
        [specification_to_tmf(spec, base_url).to_wire() for spec in SPECIFICATIONS.values()],
        headers={"X-Total-Count": str(len(SPECIFICATIONS))},
    )


@router.get(
    "/serviceTestSpecification/{id}",
    response_model=tmf.ServiceTestSpecification,
    summary="One test specification",
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def get_specification(
    request: Request, spec_id: Identifier, _: RetailPrincipal
) -> JSONResponse:
    spec = specification(spec_id)
    return JSONResponse(specification_to_tmf(spec, request.app.state.base_url).to_wire())


ops_router = APIRouter(prefix="/ops/v1", tags=["Wholesale operations"])
OpsPrincipal = Annotated[Principal, Depends(require_scope(Scope.OPS))]
Limit = Annotated[int, Field(ge=0, le=10_000_000)] | None


class QuotaLimits(TMFInput):
    """An operator's own limits; null (or absent in GET) = the deployment's default."""

    per_operator_per_day: Limit = None
    per_service_per_hour: Limit = None


async def _quotas(session: SessionDep, settings: SettingsDep, clock: ClockDep) -> Quotas:
    return Quotas(session, settings, clock.now())


QuotasDep = Annotated[Quotas, Depends(_quotas)]


@ops_router.get(
    "/operator/{id}/serviceTestQuota",
    response_model=QuotaLimits,
    summary="The service-test limits that apply to an operator",
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def get_operator_quota(
    operator_id: Identifier, _: OpsPrincipal, quotas: QuotasDep
) -> JSONResponse:
    per_day, per_hour = await quotas.limits(operator_id)
    return JSONResponse({PER_OPERATOR_PER_DAY: per_day, PER_SERVICE_PER_HOUR: per_hour})


@ops_router.patch(
    "/operator/{id}/serviceTestQuota",
    response_model=QuotaLimits,
    summary="Give an operator its own service-test limits (null: back to the default)",
    dependencies=[Depends(require_json_body)],
    responses=error_responses(
        NotAuthenticated, Forbidden, NotFound, InvalidRequest, UnsupportedMediaType
    ),
)
async def set_operator_quota(
    operator_id: Identifier, body: QuotaLimits, _: OpsPrincipal, quotas: QuotasDep
) -> JSONResponse:
    changed = {QuotaLimits.model_fields[name].alias or name for name in body.model_fields_set}
    per_day, per_hour = await quotas.set_limits(
        operator_id, body.per_operator_per_day, body.per_service_per_hour, changed
    )
    return JSONResponse({PER_OPERATOR_PER_DAY: per_day, PER_SERVICE_PER_HOUR: per_hour})
