"""Crash safety: worker processes are killed with SIGKILL while events flow; every event
still arrives at least once, in order per ticket, repeats only as re-sends of the same id."""

import asyncio
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fiberassure.tmf import trouble_ticket as tmf
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.models import Delivery, Hub, OutboxEvent
from fiberassure.wholesale.events.signing import new_secret
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.service import TicketService
from tests.conftest import BASE_URL, World
from tests.listener import Answer, RecordingListener
from tests.tickets import ticket_body

TICKETS = 100
ROUNDS = 5  # one burst of 100 events per round: 500 events
FIBERASSURE = Path(sys.executable).with_name("fiberassure")


@pytest.fixture
def slow_listener() -> Iterator[RecordingListener]:
    listener = RecordingListener().start()
    # Some latency keeps a burst in flight when its worker is killed.
    listener.answer("crash", *[Answer(200, delay=0.05)] * 10_000)
    yield listener
    listener.stop()


class Workers:
    """`fiberassure wholesale worker` processes on the test database, on the wall clock."""

    def __init__(self, database_url: str) -> None:
        self.environment = {
            **os.environ,
            "FIBERASSURE_DATABASE_URL": database_url,
            "FIBERASSURE_CALLBACK_ALLOW_PRIVATE": "true",
            "FIBERASSURE_DELIVERY_LEASE": "1",
            "FIBERASSURE_DELIVERY_TIMEOUT": "0.5",
            "FIBERASSURE_RETRY_SCHEDULE": "0.05,0.1,0.2,0.5,1,1,1,1,1,1",
            "FIBERASSURE_DISPATCHER_POLL_INTERVAL": "0.02",
            "FIBERASSURE_DISPATCHER_CONCURRENCY": "32",
        }
        self.running: list[asyncio.subprocess.Process] = []
        self.kills = 0

    async def start(self, count: int) -> None:
        started = [
            await asyncio.create_subprocess_exec(
                str(FIBERASSURE),
                "wholesale",
                "worker",
                env=self.environment,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for _ in range(count)
        ]
        for process in started:
            assert process.stdout is not None
            ready = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert b"worker running" in ready, ready
        self.running += started

    async def kill_all(self) -> None:
        for process in self.running:
            process.kill()  # SIGKILL: no clean-up, leases stay taken
            await process.wait()
            self.kills += 1
        self.running.clear()

    async def stop(self) -> None:
        for process in self.running:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()
        self.running.clear()


async def undelivered(database: Database) -> int:
    async with database.transaction() as session:
        statement = select(func.count()).select_from(Delivery).where(Delivery.status != "delivered")
        return int((await session.execute(statement)).scalar_one())


async def outbox(database: Database) -> list[OutboxEvent]:
    async with database.transaction() as session:
        statement = select(OutboxEvent).order_by(OutboxEvent.position)
        return list((await session.execute(statement)).scalars())


async def prepare(database: Database, callback: str) -> None:
    """A hub for operator A and one line per ticket."""
    now = datetime.now(UTC)
    async with database.transaction() as session:
        session.add(
            Hub(
                id="crash-hub",
                operator_id="op-a",
                api="troubleTicket",
                callback=callback,
                secret=new_secret(),
                status="active",
                created_at=now,
            )
        )
        for number in range(TICKETS):
            record = ServiceRecord(
                service_id=f"SRV-CRASH-{number}",
                operator_id="op-a",
                ont_serial_number=f"ALCLC0{number:06X}",
                olt_name="OLT-TEST-01",
                pon_port="1/1/2/1",
            )
            await add_service(session, record, now)


async def burst(database: Database, settings: Settings, round_number: int) -> None:
    """One change to each ticket (the first round creates them), committed together."""
    async with database.transaction() as session:
        tickets = TicketService(session, settings, datetime.now(UTC), BASE_URL)
        for number in range(TICKETS):
            if round_number == 0:
                body = tmf.TroubleTicketCreate.model_validate(
                    ticket_body(f"SRV-CRASH-{number}", externalId=f"CRASH-{number}")
                )
                await tickets.create("op-a", body, author="op-a")
                continue
            ticket = await tickets.tickets.by_external_id("op-a", f"CRASH-{number}")
            assert ticket is not None
            change = tmf.TroubleTicketUpdate.model_validate(
                {"note": [{"text": f"round {round_number}"}]}
            )
            await tickets.update_by_retail(ticket.id, "op-a", change, author="op-a")


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
async def test_sigkilled_workers_lose_and_reorder_nothing(
    processes: int,
    world: World,
    slow_listener: RecordingListener,
    clean_database: Database,
    database_url: str,
    settings: Settings,
) -> None:
    if processes > 1 and clean_database.is_sqlite:
        pytest.skip("several worker processes are a PostgreSQL deployment")
    await prepare(clean_database, slow_listener.url("crash"))
    workers = Workers(database_url)
    rng = random.Random(653 + processes)
    try:
        for round_number in range(ROUNDS):
            await workers.start(processes)
            await burst(clean_database, settings, round_number)
            await asyncio.sleep(rng.uniform(0.05, 0.25))  # mid-burst
            await workers.kill_all()
        await workers.start(processes)
        deadline = time.monotonic() + 60
        while await undelivered(clean_database) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        await workers.stop()

    events = await outbox(clean_database)
    assert len(events) == TICKETS * ROUNDS
    assert await undelivered(clean_database) == 0
    received = slow_listener.on("crash")
    assert {r.headers["webhook-id"] for r in received} == {e.event_id for e in events}
    position = {e.event_id: (e.resource_id, e.sequence_number) for e in events}
    first_seen: dict[str, list[int]] = {}
    for arrival in received:
        ticket_id, sequence = position[arrival.headers["webhook-id"]]
        assert arrival.event["sequenceNumber"] == sequence, "a repeat is the same message"
        sequences = first_seen.setdefault(ticket_id, [])
        if sequence not in sequences:
            sequences.append(sequence)
    assert all(s == list(range(1, ROUNDS + 1)) for s in first_seen.values())
    assert len(first_seen) == TICKETS
    assert workers.kills == ROUNDS * processes
    resent = len(received) - len(events)
    print(
        f"{len(events)} events, {len(received)} arrivals ({resent} re-sent), {workers.kills} kills"
    )
