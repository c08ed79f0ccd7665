"""TMF621 Trouble Ticket API: HTTP in and out, nothing else."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from fiberassure.tmf import trouble_ticket as tmf
from fiberassure.tmf.errors import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidQuery,
    InvalidRequest,
    InvalidTransition,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
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
from fiberassure.tmf.ticket_lifecycle import TicketStatus
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
from fiberassure.wholesale.tickets.repository import SORTABLE, TicketFilter
from fiberassure.wholesale.tickets.schemas import BASE_PATH
from fiberassure.wholesale.tickets.service import TicketService, etag

router = APIRouter(prefix=BASE_PATH, tags=["TMF621 Trouble Ticket"])
RetailPrincipal = Annotated[Principal, Depends(require_scope(Scope.TROUBLE_TICKET))]
TicketId = Annotated[str, Path(max_length=100, description="The ticket's id.")]
FieldsQuery = Annotated[
    str | None, Query(description="Comma list of attributes to return (id and href always).")
]

COMMON_ERRORS = (NotAuthenticated, Forbidden, InvalidQuery)
TICKET_ATTRIBUTES = tuple(
    info.alias or name for name, info in tmf.TroubleTicket.model_fields.items()
)
FILTERS = (
    "status",
    "ticketType",
    "severity",
    "externalId",
    "relatedEntity.id",
    "creationDate.gt",
    "creationDate.lt",
    "lastUpdate.gt",
    "lastUpdate.lt",
)
MERGE_PATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/merge-patch+json": {
                "schema": {"$ref": "#/components/schemas/TroubleTicketUpdate"}
            }
        }
    }
}


async def _service(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> TicketService:
    return TicketService(session, settings, clock.now(), request.app.state.base_url)


ServiceDep = Annotated[TicketService, Depends(_service)]


def _ticket_response(
    service: TicketService, ticket: Any, status_code: int = 200, fields: list[str] | None = None
) -> JSONResponse:
    headers = {"ETag": etag(ticket)}
    body = select_fields(service.render(ticket).to_wire(), fields)
    if status_code == 201:
        headers["Location"] = body["href"]
    return JSONResponse(body, status_code=status_code, headers=headers)


@router.post(
    "/troubleTicket",
    status_code=201,
    response_model=tmf.TroubleTicket,
    summary="Report a consumer fault",
    dependencies=[Depends(require_json_body)],
    responses=error_responses(
        *COMMON_ERRORS,
        InvalidRequest,
        Conflict,
        IdempotencyKeyReused,
        PayloadTooLarge,
        UnsupportedMediaType,
    ),
)
async def create_trouble_ticket(
    body: tmf.TroubleTicketCreate,
    principal: RetailPrincipal,
    service: ServiceDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retry-safe key: the same key and body return the first response.",
        ),
    ] = None,
) -> JSONResponse:
    """The ticket starts `acknowledged`; `status` in the body is ignored. The SLA clock
    (`expectedResolutionDate`) starts now."""
    assert principal.operator_id is not None
    create = idempotency.IdempotentCreate(
        service.session,
        principal.operator_id,
        idempotency_key,
        "POST troubleTicket",
        body.model_dump(mode="json", by_alias=True, exclude_unset=True),
    )
    if previous := await create.previous():
        return JSONResponse(previous.body, status_code=previous.status, headers=previous.headers())
    ticket = await service.create(principal.operator_id, body, author=principal.operator_id)
    response = _ticket_response(service, ticket, status_code=201)
    create.remember(
        idempotency.StoredResponse(
            201,
            service.render(ticket).to_wire(),
            response.headers["Location"],
            response.headers["ETag"],
        ),
        service.now,
    )
    return response


@router.get(
    "/troubleTicket",
    response_model=list[tmf.TroubleTicket],
    summary="List your trouble tickets",
    responses=error_responses(*COMMON_ERRORS),
)
async def list_trouble_tickets(
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
        str | None,
        Query(description="creationDate, lastUpdate or statusChangeDate; '-' = descending"),
    ] = None,
    status: Annotated[
        str | None, Query(description="Comma list, e.g. acknowledged,inProgress")
    ] = None,
    ticket_type: Annotated[str | None, Query(alias="ticketType")] = None,
    severity: Annotated[str | None, Query()] = None,
    external_id: Annotated[str | None, Query(alias="externalId", max_length=100)] = None,
    related_entity_id: Annotated[
        str | None, Query(alias="relatedEntity.id", max_length=100)
    ] = None,
    creation_date_gt: Annotated[str | None, Query(alias="creationDate.gt")] = None,
    creation_date_lt: Annotated[str | None, Query(alias="creationDate.lt")] = None,
    last_update_gt: Annotated[str | None, Query(alias="lastUpdate.gt")] = None,
    last_update_lt: Annotated[str | None, Query(alias="lastUpdate.lt")] = None,
) -> JSONResponse:
    """Tickets matching every given filter. `X-Total-Count` counts all matches,
    `X-Result-Count` those in this page. Newest first unless `sort` says otherwise."""
    refuse_unknown_parameters(request.query_params, FILTERS)
    limit = limit or settings.page_limit_default
    if limit > settings.page_limit_max:
        raise InvalidQuery(f"limit must be between 1 and {settings.page_limit_max}")
    sort_name, descending = parse_sort(sort, SORTABLE, "-creationDate")
    criteria = TicketFilter(
        operator_id=principal.operator_id,
        statuses=[s.value for s in parse_enum_list(status, TicketStatus, "status")]
        if status
        else (),
        ticket_types=(
            [t.value for t in parse_enum_list(ticket_type, tmf.TicketType, "ticketType")]
            if ticket_type
            else ()
        ),
        severities=(
            [s.value for s in parse_enum_list(severity, tmf.Severity, "severity")]
            if severity
            else ()
        ),
        external_id=external_id,
        related_entity_id=related_entity_id,
        created_after=parse_datetime(creation_date_gt, "creationDate.gt")
        if creation_date_gt
        else None,
        created_before=parse_datetime(creation_date_lt, "creationDate.lt")
        if creation_date_lt
        else None,
        updated_after=parse_datetime(last_update_gt, "lastUpdate.gt") if last_update_gt else None,
        updated_before=parse_datetime(last_update_lt, "lastUpdate.lt") if last_update_lt else None,
        sort=SORTABLE[sort_name],
        descending=descending,
    )
    selected = parse_fields(fields, TICKET_ATTRIBUTES)
    tickets, total = await service.search(criteria, offset, limit)
    body = [select_fields(service.render(t).to_wire(), selected) for t in tickets]
    return JSONResponse(
        body, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(body))}
    )


@router.get(
    "/troubleTicket/{id}",
    response_model=tmf.TroubleTicket,
    summary="Get one trouble ticket",
    responses=error_responses(*COMMON_ERRORS, NotFound),
)
async def get_trouble_ticket(
    request: Request,
    ticket_id: Annotated[TicketId, Path(alias="id")],
    principal: RetailPrincipal,
    service: ServiceDep,
    fields: FieldsQuery = None,
) -> JSONResponse:
    assert principal.operator_id is not None
    refuse_unknown_parameters(request.query_params, ())
    ticket = await service.get_for_operator(ticket_id, principal.operator_id)
    return _ticket_response(service, ticket, fields=parse_fields(fields, TICKET_ATTRIBUTES))


@router.patch(
    "/troubleTicket/{id}",
    response_model=tmf.TroubleTicket,
    summary="Cancel, update, reopen or accept a trouble ticket",
    dependencies=[Depends(require_json_body)],
    openapi_extra=MERGE_PATCH_BODY,
    responses=error_responses(
        *COMMON_ERRORS,
        InvalidRequest,
        NotFound,
        InvalidTransition,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
    ),
)
async def patch_trouble_ticket(
    ticket_id: Annotated[TicketId, Path(alias="id")],
    body: tmf.TroubleTicketUpdate,
    principal: RetailPrincipal,
    service: ServiceDep,
    if_match: Annotated[
        str | None, Header(alias="If-Match", description="ETag from a previous read.")
    ] = None,
) -> JSONResponse:
    """JSON merge-patch. `status`: `cancelled` cancels; `inProgress` answers an information
    request (pending) or reopens (resolved); `closed` accepts the resolution. Notes and
    attachments in the body are appended. A change while pending answers the information
    request and puts the ticket back in progress."""
    assert principal.operator_id is not None
    ticket = await service.update_by_retail(
        ticket_id, principal.operator_id, body, author=principal.operator_id, if_match=if_match
    )
    return _ticket_response(service, ticket)
