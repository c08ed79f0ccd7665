"""Setting and clearing faults of the simulated network (for the ops API)."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.errors import Conflict, NotFound
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.network.adapter import Line, line_of
from fiberassure.wholesale.network.models import SimulatedCondition
from fiberassure.wholesale.network.repository import ConditionRepository
from fiberassure.wholesale.network.simulator import (
    EffectiveCondition,
    LineCondition,
    effective_condition,
    set_condition,
    targets_of,
)
from fiberassure.wholesale.settings import NetworkAdapterName, Settings


class SimulatorService:
    def __init__(self, session: AsyncSession, settings: Settings, now: datetime) -> None:
        if settings.network_adapter is not NetworkAdapterName.SIMULATOR:
            raise Conflict(
                f"the network adapter is {settings.network_adapter}, not the simulator: "
                "faults cannot be set"
            )
        self.session = session
        self.now = now

    async def line(self, service_id: str) -> Line:
        service = await ServiceRepository(self.session).get(service_id)
        if service is None:
            raise NotFound(f"no service {service_id}")
        return line_of(service)

    async def condition_of(self, line: Line) -> EffectiveCondition:
        return await effective_condition(self.session, line)

    async def set(
        self, line: Line, condition: LineCondition, note: str | None
    ) -> EffectiveCondition:
        await set_condition(self.session, line, condition, self.now, note)
        await self.session.flush()
        return await effective_condition(self.session, line)

    async def clear(self, line: Line) -> EffectiveCondition:
        """Remove every fault set on the line, its PON and its OLT."""
        await ConditionRepository(self.session).remove(targets_of(line))
        return await effective_condition(self.session, line)

    async def all(self) -> list[SimulatedCondition]:
        return await ConditionRepository(self.session).all()
