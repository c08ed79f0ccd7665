from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from fiberassure.tmf.ticket_lifecycle import OPEN_STATUSES, TicketStatus
from fiberassure.wholesale.tickets.models import TroubleTicket


@dataclass(frozen=True)
class TicketFilter:
    statuses: Sequence[str] = ()
    ticket_types: Sequence[str] = ()
    severities: Sequence[str] = ()
    external_id: str | None = None
    related_entity_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    sort: str = "creation_date"
    descending: bool = True
    operator_id: str | None = field(default=None)


SORTABLE = {
    "creationDate": "creation_date",
    "lastUpdate": "last_update",
    "statusChangeDate": "status_change_date",
}


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _scoped(statement: Select[TroubleTicket], operator_id: str) -> Select[TroubleTicket]:
        """The only place where a retail operator's view of tickets is narrowed."""
        return statement.where(TroubleTicket.operator_id == operator_id)

    @staticmethod
    def _whole(statement: Select[TroubleTicket], lock: bool) -> Select[TroubleTicket]:
        statement = statement.options(
            selectinload(TroubleTicket.notes), selectinload(TroubleTicket.status_changes)
        )
        # The row lock serialises changes to one ticket (SQLite already has one writer).
        return statement.with_for_update(of=TroubleTicket) if lock else statement

    async def get_for_operator(
        self, ticket_id: str, operator_id: str, *, lock: bool = False
    ) -> TroubleTicket | None:
        statement = self._scoped(
            select(TroubleTicket).where(TroubleTicket.id == ticket_id), operator_id
        )
        return (await self.session.execute(self._whole(statement, lock))).scalar_one_or_none()

    async def get(self, ticket_id: str, *, lock: bool = False) -> TroubleTicket | None:
        """Unscoped: for the wholesaler's operations and the scheduler."""
        statement = select(TroubleTicket).where(TroubleTicket.id == ticket_id)
        return (await self.session.execute(self._whole(statement, lock))).scalar_one_or_none()

    async def open_for_service(self, service_id: str) -> TroubleTicket | None:
        """Unscoped: a line has at most one open ticket, whoever opened it; callers look the
        line up through the operator's scope first."""
        statement = (
            select(TroubleTicket)
            .where(TroubleTicket.service_id == service_id)
            .where(TroubleTicket.status.in_([s.value for s in OPEN_STATUSES]))
        )
        return (await self.session.execute(statement)).scalars().first()

    async def by_external_id(self, operator_id: str, external_id: str) -> TroubleTicket | None:
        statement = self._scoped(
            select(TroubleTicket).where(TroubleTicket.external_id == external_id), operator_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def search(
        self, criteria: TicketFilter, offset: int, limit: int
    ) -> tuple[list[TroubleTicket], int]:
        """Tickets matching `criteria`, narrowed to `criteria.operator_id` when it is set (it
        is empty only for the wholesaler's own searches)."""
        statement = select(TroubleTicket)
        if criteria.operator_id is not None:
            statement = self._scoped(statement, criteria.operator_id)
        if criteria.statuses:
            statement = statement.where(TroubleTicket.status.in_(criteria.statuses))
        if criteria.ticket_types:
            statement = statement.where(TroubleTicket.ticket_type.in_(criteria.ticket_types))
        if criteria.severities:
            statement = statement.where(TroubleTicket.severity.in_(criteria.severities))
        if criteria.external_id is not None:
            statement = statement.where(TroubleTicket.external_id == criteria.external_id)
        if criteria.related_entity_id is not None:
            entity = criteria.related_entity_id
            statement = statement.where(
                or_(
                    TroubleTicket.service_id == entity,
                    TroubleTicket.ont_serial_number == entity,
                    TroubleTicket.service_test_id == entity,
                )
            )
        if criteria.created_after is not None:
            statement = statement.where(TroubleTicket.creation_date > criteria.created_after)
        if criteria.created_before is not None:
            statement = statement.where(TroubleTicket.creation_date < criteria.created_before)
        if criteria.updated_after is not None:
            statement = statement.where(TroubleTicket.last_update > criteria.updated_after)
        if criteria.updated_before is not None:
            statement = statement.where(TroubleTicket.last_update < criteria.updated_before)
        total = (
            await self.session.execute(select(func.count()).select_from(statement.subquery()))
        ).scalar_one()
        column = getattr(TroubleTicket, criteria.sort)
        order = [column.desc() if criteria.descending else column.asc(), TroubleTicket.id.asc()]
        page = self._whole(statement.order_by(*order).offset(offset).limit(limit), lock=False)
        return list((await self.session.execute(page)).scalars()), int(total)

    async def claim_due(
        self, deadline: str, status: TicketStatus, now: datetime, limit: int
    ) -> list[str]:
        """Unscoped (the scheduler works for every operator): ids of tickets in `status` whose
        `deadline` has passed, locked for this transaction; rows another worker holds are
        skipped, not waited for."""
        column = getattr(TroubleTicket, deadline)
        statement = (
            select(TroubleTicket.id)
            .where(column <= now)
            .where(TroubleTicket.status == status.value)
            .order_by(column)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(statement)).scalars())

    def add(self, ticket: TroubleTicket) -> None:
        self.session.add(ticket)
