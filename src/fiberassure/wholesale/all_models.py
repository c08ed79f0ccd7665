"""Imports every table so `Base.metadata` is complete (for Alembic and the tests)."""

from fiberassure.wholesale.diagnostics.models import QuotaUsage, ServiceTest, ServiceTestJob
from fiberassure.wholesale.events.models import Delivery, DeliveryAttempt, Hub, OutboxEvent
from fiberassure.wholesale.idempotency.models import IdempotencyRecord
from fiberassure.wholesale.inventory.models import Service
from fiberassure.wholesale.network.models import SimulatedCondition
from fiberassure.wholesale.operators.models import ApiClient, Operator
from fiberassure.wholesale.tickets.models import TicketNote, TicketStatusChange, TroubleTicket

__all__ = [
    "ApiClient",
    "Delivery",
    "DeliveryAttempt",
    "Hub",
    "IdempotencyRecord",
    "Operator",
    "OutboxEvent",
    "QuotaUsage",
    "Service",
    "ServiceTest",
    "ServiceTestJob",
    "SimulatedCondition",
    "TicketNote",
    "TicketStatusChange",
    "TroubleTicket",
]
