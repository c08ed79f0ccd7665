"""A believable demo network: two retail operators, a few OLTs, hundreds of lines.

Deterministic (a fixed random seed), so the demo credentials and service ids in the docs stay
true. Refused outside the development environment.
"""

import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.trouble_ticket import SlaClass
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.network.simulator import SANDBOX_PREFIX, LineCondition, kebab
from fiberassure.wholesale.operators.repository import OperatorRepository
from fiberassure.wholesale.operators.schemas import RETAIL_SCOPES, Scope
from fiberassure.wholesale.operators.service import create_client, create_operator


@dataclass(frozen=True)
class DemoClient:
    label: str
    operator_id: str | None
    client_id: str
    client_secret: str
    first_service: str


DEMO_OPERATORS = (
    ("retail-a", "Swiatlonet (demo retail A)"),
    ("retail-b", "Fibrolink (demo retail B)"),
)
DEMO_CLIENTS = (
    DemoClient("retail A", "retail-a", "demo-retail-a", "demo-retail-a-secret", "SRV-000001"),
    DemoClient("retail B", "retail-b", "demo-retail-b", "demo-retail-b-secret", "SRV-000151"),
    DemoClient("wholesale ops", None, "demo-ops", "demo-ops-secret", ""),
)
OLTS = ("OLT-WAW-01", "OLT-WAW-02", "OLT-KRK-01", "OLT-GDA-01")
CITIES = {
    "OLT-WAW-01": ("Warszawa", "00-"),
    "OLT-WAW-02": ("Warszawa", "02-"),
    "OLT-KRK-01": ("Krakow", "30-"),
    "OLT-GDA-01": ("Gdansk", "80-"),
}
STREETS = ("Polna", "Lesna", "Sloneczna", "Krotka", "Szkolna", "Ogrodowa", "Lipowa", "Brzozowa")
ONT_MODELS = ("Nokia G-010G-Q", "Nokia G-2425G-A", "Nokia XS-010X-Q")
SERVICES_PER_OPERATOR = 150
SANDBOX_OLT = "OLT-SBX-01"


def sandbox_service_id(letter: str, condition: LineCondition) -> str:
    """SANDBOX-A-FIBRE-CUT: a line that always shows one condition (docs/sandbox.md)."""
    return f"{SANDBOX_PREFIX}{letter}-{kebab(condition)}"


async def seed_demo(session: AsyncSession, now: datetime) -> bool:
    """Create the demo network unless it exists. Returns True when it was created now."""
    if await OperatorRepository(session).get("retail-a") is not None:
        return False
    for operator_id, name in DEMO_OPERATORS:
        await create_operator(session, name, now, operator_id=operator_id)
    for client in DEMO_CLIENTS:
        await create_client(
            session,
            name=f"demo {client.label}",
            operator_id=client.operator_id,
            scopes=RETAIL_SCOPES if client.operator_id else (Scope.OPS,),
            now=now,
            client_id=client.client_id,
            client_secret=client.client_secret,
        )
    rng = random.Random(20261128)
    number = 0
    for operator_id, _ in DEMO_OPERATORS:
        for _ in range(SERVICES_PER_OPERATOR):
            number += 1
            olt = OLTS[number % len(OLTS)]
            city, postal_prefix = CITIES[olt]
            await add_service(
                session,
                ServiceRecord(
                    service_id=f"SRV-{number:06d}",
                    operator_id=operator_id,
                    ont_serial_number=f"ALCL{rng.getrandbits(32):08X}",
                    ont_model=rng.choice(ONT_MODELS),
                    olt_name=olt,
                    pon_port=f"1/1/{rng.randint(1, 16)}/{rng.randint(1, 16)}",
                    address=f"ul. {rng.choice(STREETS)} {rng.randint(1, 120)}/{rng.randint(1, 40)}",
                    city=city,
                    postal_code=f"{postal_prefix}{rng.randint(0, 999):03d}",
                    sla_class=SlaClass.ENHANCED if number % 10 == 0 else SlaClass.STANDARD,
                ),
                now,
            )
    await _seed_sandbox(session, now)
    return True


async def _seed_sandbox(session: AsyncSession, now: datetime) -> None:
    """One line per simulator condition for each demo operator, each on a PON port of its
    own so a PON outage there touches nothing else."""
    for slot, (operator_id, _) in enumerate(DEMO_OPERATORS, start=1):
        letter = operator_id.removeprefix("retail-").upper()
        for port, condition in enumerate(LineCondition, start=1):
            await add_service(
                session,
                ServiceRecord(
                    service_id=sandbox_service_id(letter, condition),
                    operator_id=operator_id,
                    ont_serial_number=f"ALCL5B{slot:02X}{port:04X}",
                    ont_model=ONT_MODELS[0],
                    olt_name=SANDBOX_OLT,
                    pon_port=f"1/1/{slot}/{port}",
                    address=f"Sandbox line {port}",
                    city="Warszawa",
                    postal_code="00-001",
                    sla_class=SlaClass.STANDARD,
                ),
                now,
            )


async def demo_service_count(session: AsyncSession) -> int:
    return await ServiceRepository(session).count()
