from datetime import datetime

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.wholesale.idempotency.models import IdempotencyRecord


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _scoped(
        statement: Select[IdempotencyRecord], operator_id: str
    ) -> Select[IdempotencyRecord]:
        """The only place where idempotency records are narrowed to one operator."""
        return statement.where(IdempotencyRecord.operator_id == operator_id)

    async def get(self, operator_id: str, key: str) -> IdempotencyRecord | None:
        statement = self._scoped(
            select(IdempotencyRecord).where(IdempotencyRecord.key == key), operator_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    def add(self, record: IdempotencyRecord) -> None:
        self.session.add(record)

    async def delete_older_than(self, instant: datetime) -> int:
        """Unscoped: expiry runs for every operator at once."""
        result = await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < instant)
        )
        return int(getattr(result, "rowcount", 0) or 0)
