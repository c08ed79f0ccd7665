"""Hub (event subscription) API on both TMF APIs, the delivery log and replay, and the same
for the wholesaler's staff under /ops/v1/hub."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from fiberassure.tmf.errors import (
    Conflict,
    Forbidden,
    InvalidQuery,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    UnsupportedMediaType,
    error_responses,
)
from fiberassure.tmf.hub import (
    DeliveryAttemptOut,
    DeliveryOut,
    HubCreate,
    HubOut,
    RedeliverPeriod,
    RedeliverResult,
)
from fiberassure.wholesale.events.callbacks import CallbackPolicy
from fiberassure.wholesale.events.models import Delivery, Hub
from fiberassure.wholesale.events.repository import DeliveryRepository, HubRepository
from fiberassure.wholesale.events.service import HubService
from fiberassure.wholesale.http import (
    ClockDep,
    SessionDep,
    SettingsDep,
    require_json_body,
    require_scope,
)
from fiberassure.wholesale.operators.schemas import Scope
from fiberassure.wholesale.operators.service import Principal

HubId = Annotated[str, Path(alias="id", max_length=100)]
DeliveryId = Annotated[str, Path(alias="deliveryId", max_length=30)]
StatusQuery = Annotated[str | None, Query(description="pending, delivered or failed (comma list)")]
OffsetQuery = Annotated[int, Query(ge=0, le=10_000_000)]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
COMMON = (NotAuthenticated, Forbidden, NotFound)
HUB_PATHS = {
    "troubleTicket": "/tmf-api/troubleTicket/v4",
    "serviceTest": "/tmf-api/serviceTestManagement/v4",
}


def _policy(settings: SettingsDep) -> CallbackPolicy:
    return CallbackPolicy(settings.callback_allow_private, settings.callback_allowlist)


def hub_out(request: Request, hub: Hub, *, with_secret: bool = False) -> HubOut:
    base = request.app.state.base_url
    return HubOut(
        id=hub.id,
        href=f"{base}{HUB_PATHS[hub.api]}/hub/{hub.id}",
        callback=hub.callback,
        query=hub.query,
        status=hub.status,
        status_reason=hub.status_reason,
        created_at=hub.created_at,
        secret=hub.secret if with_secret else None,
    )


async def delivery_out(
    session: SessionDep, delivery: Delivery, *, with_attempts: bool = False
) -> DeliveryOut:
    attempts = None
    if with_attempts:
        attempts = [
            DeliveryAttemptOut(
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error,
                response_body=a.response_body,
            )
            for a in await DeliveryRepository(session).attempts_of(delivery.id)
        ]
    return DeliveryOut(
        id=str(delivery.id),
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        resource_key=delivery.resource_key,
        sequence_number=delivery.sequence_number,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        attempt=attempts,
    )


async def _delivery_list(
    service: HubService, session: SessionDep, hub: Hub, status: str | None, offset: int, limit: int
) -> JSONResponse:
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else []
    deliveries, total = await service.deliveries_of(hub, statuses, offset, limit)
    body = [(await delivery_out(session, d)).to_wire() for d in deliveries]
    return JSONResponse(
        body, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(body))}
    )


def hub_router(api: str) -> APIRouter:
    """The TMF hub endpoints of one API (troubleTicket or serviceTest)."""
    tag = "TMF621 Trouble Ticket" if api == "troubleTicket" else "TMF653 Service Test"
    router = APIRouter(prefix=HUB_PATHS[api], tags=[f"{tag}: hub"])
    principal_dep = Annotated[Principal, Depends(require_scope(Scope.HUB))]

    async def service(session: SessionDep, settings: SettingsDep, clock: ClockDep) -> HubService:
        return HubService(session, api, _policy(settings), clock.now())

    service_dep = Annotated[HubService, Depends(service)]

    @router.post(
        "/hub",
        status_code=201,
        response_model=HubOut,
        summary="Subscribe to events",
        dependencies=[Depends(require_json_body)],
        responses=error_responses(*COMMON, InvalidRequest, UnsupportedMediaType),
        operation_id=f"create_{api}_hub",
    )
    async def create_hub(
        request: Request, body: HubCreate, principal: principal_dep, hubs: service_dep
    ) -> JSONResponse:
        """Events matching `query` are POSTed to `callback`, signed per Standard Webhooks with
        the returned `secret` (shown only now). Private and loopback callbacks are refused
        unless the server allows them."""
        assert principal.operator_id is not None
        hub = await hubs.create(principal.operator_id, body.callback, body.query)
        out = hub_out(request, hub, with_secret=True)
        return JSONResponse(out.to_wire(), status_code=201, headers={"Location": out.href})

    @router.get(
        "/hub",
        response_model=list[HubOut],
        summary="Your hubs",
        responses=error_responses(*COMMON),
        operation_id=f"list_{api}_hubs",
    )
    async def list_hubs(
        request: Request, principal: principal_dep, hubs: service_dep
    ) -> JSONResponse:
        assert principal.operator_id is not None
        found = await hubs.list_for(principal.operator_id)
        return JSONResponse([hub_out(request, h).to_wire() for h in found])

    @router.get(
        "/hub/{id}",
        response_model=HubOut,
        summary="One hub",
        responses=error_responses(*COMMON),
        operation_id=f"get_{api}_hub",
    )
    async def get_hub(
        request: Request, hub_id: HubId, principal: principal_dep, hubs: service_dep
    ) -> JSONResponse:
        hub = await hubs.get(hub_id, principal.operator_id)
        return JSONResponse(hub_out(request, hub).to_wire())

    @router.delete(
        "/hub/{id}",
        status_code=204,
        summary="Unsubscribe",
        responses=error_responses(*COMMON),
        operation_id=f"delete_{api}_hub",
    )
    async def delete_hub(hub_id: HubId, principal: principal_dep, hubs: service_dep) -> Response:
        assert principal.operator_id is not None
        await hubs.delete(hub_id, principal.operator_id)
        return Response(status_code=204)

    @router.get(
        "/hub/{id}/delivery",
        response_model=list[DeliveryOut],
        summary="The hub's delivery log",
        responses=error_responses(*COMMON, InvalidRequest, InvalidQuery),
        operation_id=f"list_{api}_hub_deliveries",
    )
    async def list_deliveries(
        hub_id: HubId,
        principal: principal_dep,
        hubs: service_dep,
        session: SessionDep,
        status: StatusQuery = None,
        offset: OffsetQuery = 0,
        limit: LimitQuery = 100,
    ) -> JSONResponse:
        hub = await hubs.get(hub_id, principal.operator_id)
        return await _delivery_list(hubs, session, hub, status, offset, limit)

    @router.get(
        "/hub/{id}/delivery/{deliveryId}",
        response_model=DeliveryOut,
        summary="One delivery with every attempt",
        responses=error_responses(*COMMON),
        operation_id=f"get_{api}_hub_delivery",
    )
    async def get_delivery(
        hub_id: HubId,
        delivery_id: DeliveryId,
        principal: principal_dep,
        hubs: service_dep,
        session: SessionDep,
    ) -> JSONResponse:
        hub = await hubs.get(hub_id, principal.operator_id)
        delivery = await hubs.delivery(hub, delivery_id)
        return JSONResponse((await delivery_out(session, delivery, with_attempts=True)).to_wire())

    @router.post(
        "/hub/{id}/delivery/{deliveryId}/redeliver",
        response_model=DeliveryOut,
        summary="Send a failed delivery again",
        responses=error_responses(*COMMON, Conflict),
        operation_id=f"redeliver_{api}_hub_delivery",
    )
    async def redeliver(
        hub_id: HubId,
        delivery_id: DeliveryId,
        principal: principal_dep,
        hubs: service_dep,
        session: SessionDep,
    ) -> JSONResponse:
        hub = await hubs.get(hub_id, principal.operator_id)
        delivery = await hubs.redeliver(hub, delivery_id)
        return JSONResponse((await delivery_out(session, delivery)).to_wire())

    @router.post(
        "/hub/{id}/redeliver",
        status_code=202,
        response_model=RedeliverResult,
        summary="Send again every event of a time range",
        dependencies=[Depends(require_json_body)],
        responses=error_responses(*COMMON, InvalidRequest, Conflict, UnsupportedMediaType),
        operation_id=f"redeliver_{api}_hub_period",
    )
    async def redeliver_period(
        hub_id: HubId, body: RedeliverPeriod, principal: principal_dep, hubs: service_dep
    ) -> JSONResponse:
        hub = await hubs.get(hub_id, principal.operator_id)
        created = await hubs.redeliver_period(hub, body.start, body.end)
        return JSONResponse(RedeliverResult(deliveries_created=created).to_wire(), status_code=202)

    return router


ops_router = APIRouter(prefix="/ops/v1/hub", tags=["Wholesale operations: hubs"])
OpsPrincipal = Annotated[Principal, Depends(require_scope(Scope.OPS))]


async def _ops_service(
    hub_id: str, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> tuple[HubService, Hub]:
    hub = await HubRepository(session).get(hub_id)
    if hub is None:
        raise NotFound(f"no hub {hub_id}")
    return HubService(session, hub.api, _policy(settings), clock.now()), hub


@ops_router.get("", response_model=list[HubOut], summary="Every operator's hubs")
async def ops_list_hubs(request: Request, _: OpsPrincipal, session: SessionDep) -> JSONResponse:
    hubs = await HubRepository(session).list_all()
    return JSONResponse(
        [{**hub_out(request, h).to_wire(), "operatorId": h.operator_id} for h in hubs]
    )


@ops_router.get(
    "/{id}/delivery",
    response_model=list[DeliveryOut],
    summary="Any hub's delivery log",
    responses=error_responses(*COMMON, InvalidRequest),
)
async def ops_list_deliveries(
    hub_id: HubId,
    _: OpsPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    status: StatusQuery = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> JSONResponse:
    service, hub = await _ops_service(hub_id, session, settings, clock)
    return await _delivery_list(service, session, hub, status, offset, limit)


@ops_router.post(
    "/{id}/delivery/{deliveryId}/redeliver",
    response_model=DeliveryOut,
    summary="Send a failed delivery again",
    responses=error_responses(*COMMON, Conflict),
)
async def ops_redeliver(
    hub_id: HubId,
    delivery_id: DeliveryId,
    _: OpsPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> JSONResponse:
    service, hub = await _ops_service(hub_id, session, settings, clock)
    delivery = await service.redeliver(hub, delivery_id)
    return JSONResponse((await delivery_out(session, delivery)).to_wire())


@ops_router.post(
    "/{id}/redeliver",
    status_code=202,
    response_model=RedeliverResult,
    summary="Send again every event of a time range",
    dependencies=[Depends(require_json_body)],
    responses=error_responses(*COMMON, InvalidRequest, Conflict, UnsupportedMediaType),
)
async def ops_redeliver_period(
    hub_id: HubId,
    body: RedeliverPeriod,
    _: OpsPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> JSONResponse:
    service, hub = await _ops_service(hub_id, session, settings, clock)
    created = await service.redeliver_period(hub, body.start, body.end)
    return JSONResponse(RedeliverResult(deliveries_created=created).to_wire(), status_code=202)
