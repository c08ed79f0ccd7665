from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.wholesale.network.models import SimulatedCondition


class ConditionRepository:
    """Unscoped: the simulated network belongs to the wholesaler."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_targets(self, targets: Sequence[str]) -> dict[str, SimulatedCondition]:
        """Unscoped: the simulated network is the wholesaler's."""
        statement = select(SimulatedCondition).where(SimulatedCondition.target.in_(targets))
        rows = (await self.session.execute(statement)).scalars()
        return {row.target: row for row in rows}

    async def all(self) -> list[SimulatedCondition]:
        """Unscoped: for the wholesaler's ops API."""
        statement = select(SimulatedCondition).order_by(SimulatedCondition.target)
        return list((await self.session.execute(statement)).scalars())

    async def put(self, condition: SimulatedCondition) -> None:
        """Unscoped: for the wholesaler's ops API."""
        await self.session.merge(condition)

    async def remove(self, targets: Sequence[str]) -> int:
        """Unscoped: for the ops API and the repairs that heal a line."""
        result = await self.session.execute(
            delete(SimulatedCondition).where(SimulatedCondition.target.in_(targets))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
