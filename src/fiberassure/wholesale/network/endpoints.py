"""Ops API of the simulated network: give a line a fault, read it, clear it (scope `ops`)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from fiberassure.tmf.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    UnsupportedMediaType,
    error_responses,
)
from fiberassure.tmf.schema import TMFInput, TMFModel
from fiberassure.wholesale.http import (
    ClockDep,
    SessionDep,
    SettingsDep,
    require_json_body,
    require_scope,
)
from fiberassure.wholesale.network.adapter import Line
from fiberassure.wholesale.network.service import SimulatorService
from fiberassure.wholesale.network.simulator import EffectiveCondition, LineCondition
from fiberassure.wholesale.operators.schemas import Scope
from fiberassure.wholesale.operators.service import Principal

router = APIRouter(prefix="/ops/v1/simulator", tags=["Simulated network"])
OpsPrincipal = Annotated[Principal, Depends(require_scope(Scope.OPS))]
ServiceId = Annotated[str, Path(alias="serviceId", max_length=100)]
ERRORS = error_responses(NotAuthenticated, Forbidden, NotFound, Conflict)


class ConditionBody(TMFInput):
    condition: LineCondition = Field(
        description="powerOff, fibreCut, highLoss, failingLaser, flapping and ontFault affect "
        "the line; ponOutage its whole PON port; oltUnreachable and adapterTimeout its OLT; "
        "ontUnknown makes the OLT deny the ONT; healthy clears the line and its PON."
    )
    note: Annotated[str, Field(min_length=1, max_length=300)] | None = None


class LineConditionOut(TMFModel):
    service_id: str
    ont_serial_number: str
    olt_name: str
    pon_port: str
    condition: LineCondition
    source: str = Field(description="line, pon, olt (set here), sandbox (by id) or default")
    since: datetime | None = None
    note: str | None = None


async def _simulator(
    session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> SimulatorService:
    return SimulatorService(session, settings, clock.now())


SimulatorDep = Annotated[SimulatorService, Depends(_simulator)]


def _out(line: Line, effective: EffectiveCondition) -> dict[str, Any]:
    return LineConditionOut(
        service_id=line.service_id,
        ont_serial_number=line.ont_serial_number,
        olt_name=line.olt_name,
        pon_port=line.pon_port,
        condition=effective.condition,
        source=effective.source,
        since=effective.since,
        note=effective.note,
    ).to_wire()


@router.get("/condition", summary="Every fault set through this API", responses=ERRORS)
async def list_conditions(_: OpsPrincipal, simulator: SimulatorDep) -> JSONResponse:
    rows = await simulator.all()
    return JSONResponse(
        [
            {
                "target": row.target,
                "condition": row.condition,
                "since": row.since.isoformat(),
                "note": row.note,
            }
            for row in rows
        ]
    )


@router.get(
    "/line/{serviceId}",
    response_model=LineConditionOut,
    summary="The condition a test of this line finds now, and where it comes from",
    responses=ERRORS,
)
async def get_line(service_id: ServiceId, _: OpsPrincipal, simulator: SimulatorDep) -> JSONResponse:
    line = await simulator.line(service_id)
    return JSONResponse(_out(line, await simulator.condition_of(line)))


@router.put(
    "/line/{serviceId}",
    response_model=LineConditionOut,
    summary="Give the line (or its PON or OLT) a fault",
    dependencies=[Depends(require_json_body)],
    responses=error_responses(
        NotAuthenticated, Forbidden, NotFound, Conflict, InvalidRequest, UnsupportedMediaType
    ),
)
async def set_line(
    service_id: ServiceId, body: ConditionBody, _: OpsPrincipal, simulator: SimulatorDep
) -> JSONResponse:
    line = await simulator.line(service_id)
    return JSONResponse(_out(line, await simulator.set(line, body.condition, body.note)))


@router.delete(
    "/line/{serviceId}",
    status_code=204,
    summary="Clear every fault set on the line, its PON and its OLT",
    responses=ERRORS,
)
async def clear_line(service_id: ServiceId, _: OpsPrincipal, simulator: SimulatorDep) -> Response:
    await simulator.clear(await simulator.line(service_id))
    return Response(status_code=204)
