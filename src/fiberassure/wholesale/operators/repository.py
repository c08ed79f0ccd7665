from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.wholesale.operators.models import ApiClient, Operator


class OperatorRepository:
    """Operators are the tenants themselves, so these queries have no tenant scope."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, operator_id: str) -> Operator | None:
        return await self.session.get(Operator, operator_id)

    async def get_by_name(self, name: str) -> Operator | None:
        result = await self.session.execute(select(Operator).where(Operator.name == name))
        return result.scalar_one_or_none()

    async def list(self) -> list[Operator]:
        result = await self.session.execute(select(Operator).order_by(Operator.name))
        return list(result.scalars())

    async def get_client(self, client_id: str) -> ApiClient | None:
        return await self.session.get(ApiClient, client_id)

    def add(self, row: Operator | ApiClient) -> None:
        self.session.add(row)
