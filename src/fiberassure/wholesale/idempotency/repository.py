from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.wholesale.idempotency.models import IdempotencyRecord


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, operator_id: str, key: str) -> IdempotencyRecord | None:
        statement = (
            select(IdempotencyRecord)
            .where(IdempotencyRecord.operator_id == operator_id)
            .where(IdempotencyRecord.key == key)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    def add(self, record: IdempotencyRecord) -> None:
        self.session.add(record)

    async def delete_older_than(self, instant: datetime) -> int:
        result = await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < instant)
        )
        return int(getattr(result, "rowcount", 0) or 0)
