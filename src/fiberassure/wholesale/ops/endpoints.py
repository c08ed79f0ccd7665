"""Operations API for the wholesaler's staff and systems (scope `ops`): drive any operator's
ticket through the wholesale side of the lifecycle."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import JSONResponse

from fiberassure.tmf import trouble_ticket as tmf
from fiberassure.tmf.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    InvalidTransition,
    NotAuthenticated,
    NotFound,
    UnsupportedMediaType,
    error_responses,
)
from fiberassure.tmf.ticket_lifecycle import Action, Actor, TicketStatus, allowed_actions
from fiberassure.wholesale.http import (
    require_json_body,
    require_json_body_if_any,
    require_scope,
)
from fiberassure.wholesale.operators.schemas import Scope
from fiberassure.wholesale.operators.service import Principal
from fiberassure.wholesale.ops.schemas import (
    ActionBody,
    AddNoteBody,
    ReplaceOntBody,
    RequestInformationBody,
    ResolveBody,
)
from fiberassure.wholesale.tickets.endpoints import ServiceDep
from fiberassure.wholesale.tickets.models import TroubleTicket
from fiberassure.wholesale.tickets.service import TicketService, etag

router = APIRouter(prefix="/ops/v1", tags=["Wholesale operations"])
OpsPrincipal = Annotated[Principal, Depends(require_scope(Scope.OPS))]
TicketId = Annotated[str, Path(alias="id", max_length=100)]
ACTION_ERRORS = error_responses(
    NotAuthenticated,
    Forbidden,
    NotFound,
    InvalidRequest,
    InvalidTransition,
    Conflict,
    UnsupportedMediaType,
)
OptionalActionBody = Annotated[ActionBody | None, Body()]


def _response(service: TicketService, ticket: TroubleTicket) -> JSONResponse:
    body = service.render(ticket).to_wire()
    body["allowedActions"] = [
        str(a) for a in allowed_actions(TicketStatus(ticket.status), Actor.WHOLESALE)
    ]
    return JSONResponse(body, headers={"ETag": etag(ticket)})


def _author(body: ActionBody | AddNoteBody | None, principal: Principal) -> str:
    return (body.author if body and body.author else None) or f"NOC ({principal.client_id})"


@router.get(
    "/troubleTicket/{id}",
    response_model=tmf.TroubleTicket,
    summary="Any operator's ticket, with the wholesale actions allowed now",
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def get_ticket(ticket_id: TicketId, _: OpsPrincipal, service: ServiceDep) -> JSONResponse:
    return _response(service, await service.get(ticket_id))


async def _simple_action(
    action: Action,
    ticket_id: str,
    body: ActionBody | None,
    principal: Principal,
    service: TicketService,
) -> JSONResponse:
    ticket = await service.act(
        ticket_id,
        action,
        note=body.note if body else None,
        author=_author(body, principal),
    )
    return _response(service, ticket)


ActionDependencies = [Depends(require_json_body)]
OptionalBodyDependencies = [Depends(require_json_body_if_any)]


# Actions whose body, if any, is only a note: one endpoint each, from this table.
SIMPLE_ACTIONS = {
    Action.START: "acknowledged → inProgress",
    Action.HOLD: "inProgress → held",
    Action.RELEASE: "held → inProgress",
    Action.REJECT_NO_FAULT: "No fault on the wholesale network: → cancelled (noFaultFound)",
}


def _simple_endpoint(action: Action) -> Callable[..., Awaitable[JSONResponse]]:
    async def endpoint(
        ticket_id: TicketId,
        principal: OpsPrincipal,
        service: ServiceDep,
        body: OptionalActionBody = None,
    ) -> JSONResponse:
        return await _simple_action(action, ticket_id, body, principal, service)

    endpoint.__name__ = f"{action}_ticket"
    return endpoint


for simple_action, summary in SIMPLE_ACTIONS.items():
    router.add_api_route(
        f"/troubleTicket/{{id}}/{simple_action}",
        _simple_endpoint(simple_action),
        methods=["POST"],
        summary=summary,
        dependencies=OptionalBodyDependencies,
        responses=ACTION_ERRORS,
    )


@router.post(
    "/troubleTicket/{id}/requestInformation",
    summary="→ pending: the customer cannot be reached or information is missing",
    dependencies=ActionDependencies,
    responses=ACTION_ERRORS,
)
async def request_information(
    ticket_id: TicketId, body: RequestInformationBody, principal: OpsPrincipal, service: ServiceDep
) -> JSONResponse:
    ticket = await service.act(
        ticket_id,
        Action.REQUEST_INFORMATION,
        reason=body.reason,
        field_path=body.field_path,
        note=body.note,
        author=_author(body, principal),
    )
    return _response(service, ticket)


@router.post(
    "/troubleTicket/{id}/replaceOnt",
    summary="Record a new ONT on the line; the retail operator is told the new serial",
    dependencies=ActionDependencies,
    responses=ACTION_ERRORS,
)
async def replace_ont(
    ticket_id: TicketId, body: ReplaceOntBody, principal: OpsPrincipal, service: ServiceDep
) -> JSONResponse:
    ticket = await service.act(
        ticket_id,
        Action.REPLACE_ONT,
        new_ont=(body.new_serial_number, body.model),
        note=body.note,
        author=_author(body, principal),
    )
    return _response(service, ticket)


@router.post(
    "/troubleTicket/{id}/resolve",
    summary="inProgress → resolved",
    dependencies=OptionalBodyDependencies,
    responses=ACTION_ERRORS,
)
async def resolve(
    ticket_id: TicketId,
    principal: OpsPrincipal,
    service: ServiceDep,
    body: Annotated[ResolveBody | None, Body()] = None,
) -> JSONResponse:
    ticket = await service.act(
        ticket_id,
        Action.RESOLVE,
        reason=body.resolution_code if body else None,
        note=body.note if body else None,
        author=_author(body, principal),
    )
    return _response(service, ticket)


@router.post(
    "/troubleTicket/{id}/addNote",
    summary="A note for the retail operator; the status stays",
    dependencies=ActionDependencies,
    responses=ACTION_ERRORS,
)
async def add_note(
    ticket_id: TicketId, body: AddNoteBody, principal: OpsPrincipal, service: ServiceDep
) -> JSONResponse:
    ticket = await service.act(
        ticket_id, Action.ADD_NOTE, note=body.text, author=_author(body, principal)
    )
    return _response(service, ticket)
