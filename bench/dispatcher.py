"""Dispatcher benchmark (issue: event notifications).

1. Baseline: the listener's bare receive rate — the dispatcher's own keep-alive HTTP client
   POSTing as fast as it can with the dispatcher's concurrency.
2. Throughput: N pending deliveries to that listener, drained by one in-process dispatcher:
   deliveries per second, and the ratio to the baseline.
3. Latency: events committed at a fixed rate; commit → arrival at the listener, p50 and p99.

Runs on PostgreSQL (FIBERASSURE_BENCH_POSTGRES_URL, default the local server) in a database
of its own, and on SQLite. The event loop is uvloop's, as in `fiberassure wholesale worker`.
"""

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvloop
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from fiberassure.tmf import trouble_ticket as tmf
from fiberassure.wholesale.clock import SystemClock
from fiberassure.wholesale.db import Database, migrate
from fiberassure.wholesale.events.dispatcher import Dispatcher
from fiberassure.wholesale.events.models import Delivery, Hub
from fiberassure.wholesale.events.repository import OutboxRepository
from fiberassure.wholesale.events.signing import new_secret
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.operators.service import create_operator
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.service import TicketService

POSTGRES_URL = os.environ.get(
    "FIBERASSURE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BASE_URL = "http://bench.invalid"
BASELINE_REQUESTS = 10_000
DRAIN_LIMIT_SECONDS = 120


@dataclass
class Listener:
    process: subprocess.Popen[bytes]
    url: str

    @classmethod
    def start(cls, port: int = 0) -> "Listener":
        """Start the listener on `port`, or on a free one (0): a fixed port may already be
        taken by another server, which would then receive the benchmark's deliveries."""
        if port == 0:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.listener_app:app",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=Path(__file__).resolve().parents[1],
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            if process.poll() is not None:
                break  # it could not start (the port is taken): never measure another server
            try:
                if httpx.get(f"{url}/stats", timeout=0.5).status_code == 200:
                    return cls(process, url)
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        process.kill()
        process.wait()
        raise RuntimeError(f"listener did not start on port {port}")

    def arrivals(self) -> dict[str, float]:
        arrivals: dict[str, float] = httpx.get(f"{self.url}/stats", timeout=30).json()
        return arrivals

    def reset(self) -> None:
        httpx.post(f"{self.url}/reset", timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def bare_receive_rate(
    url: str, database: Database, settings: Settings, requests: int
) -> float:
    body = b'{"eventType":"TroubleTicketStatusChangeEvent","event":{"troubleTicket":{}}}' * 16
    # The dispatcher's own HTTP client: same library, pool and time-out.
    dispatcher = Dispatcher(database, settings, SystemClock())
    concurrency = settings.dispatcher_concurrency
    try:
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                async with dispatcher.client.post(f"{url}/hook", data=body) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)
    finally:
        await dispatcher.close()


async def seed(database: Database, callback: str, tickets: int) -> None:
    now = datetime.now(UTC)
    async with database.transaction() as session:
        await create_operator(session, "Bench ISP", now, operator_id="bench")
        session.add(
            Hub(
                id="bench-hub",
                operator_id="bench",
                api="troubleTicket",
                callback=callback,
                secret=new_secret(),
                status="active",
                created_at=now,
            )
        )
        for number in range(tickets):
            await add_service(
                session,
                ServiceRecord(
                    service_id=f"B-{number}",
                    operator_id="bench",
                    ont_serial_number=f"ALCLB0{number:06X}",
                    olt_name="OLT-B",
                    pon_port="1/1/1/1",
                ),
                now,
            )


def ticket_body(service_id: str) -> tmf.TroubleTicketCreate:
    return tmf.TroubleTicketCreate.model_validate(
        {
            "description": "bench",
            "severity": "major",
            "ticketType": "degradedService",
            "relatedEntity": [
                {"id": service_id, "role": "affectedService", "@referredType": "Service"}
            ],
            "subscriberContact": {"name": "Bench", "phoneNumber": "+48 600 000 000"},
        }
    )


async def create_events(database: Database, settings: Settings, count: int, offset: int) -> None:
    """`count` ticket creations (one event each) in batches of 100 per transaction."""
    for start in range(0, count, 100):
        async with database.transaction() as session:
            service = TicketService(session, settings, datetime.now(UTC), BASE_URL)
            for number in range(start, min(start + 100, count)):
                await service.create("bench", ticket_body(f"B-{offset + number}"), "bench")


async def throughput(database: Database, settings: Settings, events: int) -> float:
    await create_events(database, settings, events, offset=0)
    dispatcher = Dispatcher(database, settings, SystemClock())
    stop = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(dispatcher.run(stop))
    while True:
        async with database.transaction() as session:
            left = (
                await session.execute(
                    select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
                )
            ).scalar_one()
        if left == 0:
            break
        if time.perf_counter() - started > DRAIN_LIMIT_SECONDS:
            stop.set()
            await running
            raise RuntimeError(f"{left} deliveries still pending after {DRAIN_LIMIT_SECONDS}s")
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    await running
    return events / elapsed


async def latency(
    database: Database,
    settings: Settings,
    listener: Listener,
    rate: int,
    seconds: float,
    offset: int,
) -> tuple[float, float, int]:
    """Commit one event every 1/rate s; returns commit→arrival p50, p99 (ms) and the count."""
    dispatcher = Dispatcher(database, settings, SystemClock())
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    committed: dict[str, float] = {}
    total = int(rate * seconds)
    started = time.perf_counter()
    for number in range(total):
        due = started + number / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        async with database.transaction() as session:
            service = TicketService(session, settings, datetime.now(UTC), BASE_URL)
            ticket = await service.create("bench", ticket_body(f"B-{offset + number}"), "bench")
            await session.flush()
            [event] = await OutboxRepository(session).for_resource("troubleTicket", ticket.id)
            event_id = event.event_id
        committed[event_id] = time.time()
    deadline = time.perf_counter() + 30
    arrivals: dict[str, float] = {}
    while time.perf_counter() < deadline:
        arrivals = listener.arrivals()
        if all(event_id in arrivals for event_id in committed):
            break
        await asyncio.sleep(0.2)
    stop.set()
    await running
    delays = sorted((arrivals[e] - t) * 1000 for e, t in committed.items() if e in arrivals)
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return p50, p99, len(delays)


def postgres_database() -> tuple[str, str]:
    name = f"fiberassure_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, make_url(POSTGRES_URL).set(database=name).render_as_string(False)


def drop_postgres(name: str) -> None:
    admin = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_backend(
    url: str, listener: Listener, events: int, rate: int, seconds: float
) -> dict[str, Any]:
    migrate(url)
    settings = Settings(database_url=url, callback_allow_private=True, public_base_url=BASE_URL)
    database = Database(url, pool_size=20)
    try:
        step = time.perf_counter()
        await seed(database, f"{listener.url}/hook", events + int(rate * seconds))
        print(f"  seeded in {time.perf_counter() - step:.1f}s", flush=True)
        baseline = await bare_receive_rate(listener.url, database, settings, BASELINE_REQUESTS)
        listener.reset()
        delivered = await throughput(database, settings, events)
        listener.reset()
        p50, p99, measured = await latency(database, settings, listener, rate, seconds, events)
    finally:
        await database.dispose()
    return {
        "baseline_per_s": baseline,
        "deliveries_per_s": delivered,
        "ratio": delivered / baseline,
        "p50_ms": p50,
        "p99_ms": p99,
        "latency_events": measured,
    }


def main(
    events: int = 2000, rate: int = 200, seconds: float = 10
) -> list[tuple[str, dict[str, Any]]]:
    listener = Listener.start()
    results = []
    try:
        name, url = postgres_database()
        try:
            results.append(
                ("postgresql", uvloop.run(run_backend(url, listener, events, rate, seconds)))
            )
        finally:
            drop_postgres(name)
        sqlite_path = Path(f"/tmp/fiberassure-bench-{uuid.uuid4().hex[:8]}.db")
        results.append(
            (
                "sqlite",
                uvloop.run(
                    run_backend(f"sqlite:///{sqlite_path}", listener, events, rate, seconds)
                ),
            )
        )
    finally:
        listener.stop()
    for backend, figures in results:
        print(
            f"dispatcher [{backend}]: listener bare receive {figures['baseline_per_s']:.0f}/s; "
            f"dispatcher {figures['deliveries_per_s']:.0f} deliveries/s "
            f"({figures['ratio']:.2f}x baseline); commit→arrival at {rate}/s: "
            f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms "
            f"({figures['latency_events']} events)"
        )
    return results


if __name__ == "__main__":
    main()
