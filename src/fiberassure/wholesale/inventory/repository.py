from collections.abc import Iterable

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.wholesale.inventory.models import Service


class ServiceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _scoped(statement: Select[Service], operator_id: str) -> Select[Service]:
        """The only place where a retail operator's view of the inventory is narrowed."""
        return statement.where(Service.operator_id == operator_id)

    async def get_for_operator(self, service_id: str, operator_id: str) -> Service | None:
        statement = self._scoped(select(Service).where(Service.id == service_id), operator_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get(self, service_id: str) -> Service | None:
        """Unscoped: for the wholesaler's own operations."""
        return await self.session.get(Service, service_id)

    async def get_by_serial(self, ont_serial_number: str) -> Service | None:
        """Unscoped: an ONT serial number is unique across the whole network."""
        statement = select(Service).where(Service.ont_serial_number == ont_serial_number)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def count(self) -> int:
        """Unscoped: the size of the whole inventory."""
        return int((await self.session.execute(select(func.count(Service.id)))).scalar_one())

    def add(self, service: Service) -> None:
        self.session.add(service)

    async def count_on_pons(self, pons: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Unscoped: how many lines share each (OLT, PON port), whoever sells them."""
        if not pons:
            return {}
        statement = (
            select(Service.olt_name, Service.pon_port, func.count(Service.id))
            .where(Service.olt_name.in_({olt for olt, _ in pons}))
            .where(Service.pon_port.in_({port for _, port in pons}))
            .group_by(Service.olt_name, Service.pon_port)
        )
        counts = {
            (olt, port): int(count) for olt, port, count in await self.session.execute(statement)
        }
        return {pon: counts.get(pon, 0) for pon in pons}

    async def get_many(self, service_ids: Iterable[str]) -> dict[str, Service]:
        """Unscoped: for the test runner, which works for every operator."""
        statement = select(Service).where(Service.id.in_(list(service_ids)))
        return {line.id: line for line in (await self.session.execute(statement)).scalars()}
