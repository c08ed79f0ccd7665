"""Service-test benchmark (issue: telediagnostics).

A real worker process whose simulated network answers each test after exactly 2 s, a real
API process, and a listener in a third process that receives every result.

1. Runner: 1,000 tests accepted in one transaction (all due at once); measured from its
   commit to the arrival of the last result at the listener.
2. End to end: 1,000 more tests ordered over HTTP, 100 requests in flight; measured from the
   first POST to the last result's arrival, and the ordering rate.

The baseline is the adapter latency itself (2 s): the least time any runner could take. The
ratio to it says how far the runner is from perfect concurrency; one test at a time would
take 1,000 times 2 s. PostgreSQL only (FIBERASSURE_BENCH_POSTGRES_URL, default the local
server), in a database of its own.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bench.dispatcher import Listener, drop_postgres, postgres_database
from fiberassure.tmf.service_test import ServiceTestCreate
from fiberassure.wholesale.db import Database, migrate
from fiberassure.wholesale.diagnostics.models import ServiceTest
from fiberassure.wholesale.diagnostics.service import ServiceTestService
from fiberassure.wholesale.events.models import Hub
from fiberassure.wholesale.events.signing import new_secret
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.operators.repository import OperatorRepository
from fiberassure.wholesale.operators.schemas import RETAIL_SCOPES
from fiberassure.wholesale.operators.service import create_client, create_operator
from fiberassure.wholesale.settings import Settings

ADAPTER_LATENCY_S = 2.0
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def seed(url: str, callback: str, lines: int) -> tuple[str, str]:
    """An operator with `lines` lines on 32-ONT PON ports, a hub for final results, and
    quotas large enough for the run. Returns its client credentials."""
    database = Database(url)
    now = datetime.now(UTC)
    try:
        async with database.transaction() as session:
            await create_operator(session, "Bench ISP", now, operator_id="bench")
            operator = await OperatorRepository(session).get("bench")
            assert operator is not None
            operator.test_quota_per_day = lines * 10
            credentials = await create_client(
                session, name="bench", operator_id="bench", scopes=RETAIL_SCOPES, now=now
            )
            session.add(
                Hub(
                    id="bench-hub",
                    operator_id="bench",
                    api="serviceTest",
                    callback=callback,
                    query="event.serviceTest.state=completed,failed",
                    secret=new_secret(),
                    status="active",
                    created_at=now,
                )
            )
            for number in range(lines):
                await add_service(
                    session,
                    ServiceRecord(
                        service_id=f"T-{number:05d}",
                        operator_id="bench",
                        ont_serial_number=f"ALCLC0{number:06X}",
                        olt_name=f"OLT-{number // 1024}",
                        pon_port=f"1/1/{number // 32 % 32 + 1}/{number % 32 + 1}",
                    ),
                    now,
                )
    finally:
        await database.dispose()
    return credentials.client_id, credentials.client_secret


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fiberassure", "wholesale", *command],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )


def order_body(number: int) -> dict[str, Any]:
    return {
        "name": "bench",
        "relatedService": {"id": f"T-{number:05d}"},
        "testSpecification": {"id": "ontStatus"},
    }


async def accept_at_once(url: str, lines: int) -> float:
    """Accept one test per line in a single transaction. Returns the wall time of commit."""
    database = Database(url)
    settings = Settings(database_url=url)
    try:
        async with database.transaction() as session:
            service = ServiceTestService(session, settings, datetime.now(UTC), "http://bench")
            for number in range(lines):
                await service.create("bench", ServiceTestCreate.model_validate(order_body(number)))
        return time.time()
    finally:
        await database.dispose()


def wait_for_arrivals(listener: Listener, count: int, timeout_s: float) -> dict[str, float]:
    arrivals: dict[str, float] = {}
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        arrivals = listener.arrivals()
        if len(arrivals) >= count:
            break
        time.sleep(0.1)
    return arrivals


async def wait_until_up(api: str) -> None:
    async with aiohttp.ClientSession(api) as client:
        for _ in range(300):
            try:
                async with client.get("/health"):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the API did not start")


async def order_all(api: str, client_id: str, secret: str, lines: int) -> tuple[float, float]:
    """POST one test per line, 100 at a time. Returns (start, end) perf_counter times."""
    # The dispatcher's HTTP client, for the same reason: httpx's pool is slow when full.
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(api, connector=connector) as client:
        async with client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        ) as token:
            headers = {"Authorization": f"Bearer {(await token.json())['access_token']}"}

        async def order(number: int) -> None:
            async with client.post(
                "/tmf-api/serviceTestManagement/v4/serviceTest",
                json=order_body(number),
                headers=headers,
            ) as response:
                assert response.status == 201, await response.text()

        started = time.perf_counter()
        await asyncio.gather(*(order(number) for number in range(lines)))
        return started, time.perf_counter()


async def finished_states(url: str) -> dict[str, int]:
    database = Database(url)
    try:
        async with database.transaction() as session:
            rows = await session.execute(
                select(ServiceTest.state, func.count()).group_by(ServiceTest.state)
            )
            return {state: int(count) for state, count in rows.all()}
    finally:
        await database.dispose()


def run(lines: int = 1000, timeout_s: float = 120) -> dict[str, Any]:
    listener = Listener.start(port=free_port())
    name, url = postgres_database()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        migrate(url)
        client_id, secret = asyncio.run(seed(url, f"{listener.url}/hook", lines))
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        env = {
            "FIBERASSURE_DATABASE_URL": url,
            "FIBERASSURE_CALLBACK_ALLOW_PRIVATE": "true",
            "FIBERASSURE_PUBLIC_BASE_URL": api,
            "FIBERASSURE_SIMULATOR_LATENCY_MIN": f"{ADAPTER_LATENCY_S:g}",
            "FIBERASSURE_SIMULATOR_LATENCY_MAX": f"{ADAPTER_LATENCY_S:g}",
            "FIBERASSURE_TEST_RUNNER_CONCURRENCY": str(lines),
            "FIBERASSURE_DATABASE_POOL_SIZE": "10",
        }
        processes.append(start(["serve", "--no-background", "--port", str(port)], env))
        processes.append(start(["worker"], env))
        asyncio.run(wait_until_up(api))
        time.sleep(2)  # the worker process has imported and is polling

        listener.reset()
        committed = asyncio.run(accept_at_once(url, lines))
        runner_arrivals = wait_for_arrivals(listener, lines, timeout_s)
        runner_s = max(runner_arrivals.values()) - committed if runner_arrivals else float("nan")

        listener.reset()
        started, submitted = asyncio.run(order_all(api, client_id, secret, lines))
        wall_start = time.time() - (time.perf_counter() - started)
        http_arrivals = wait_for_arrivals(listener, lines, timeout_s)
        http_s = max(http_arrivals.values()) - wall_start if http_arrivals else float("nan")
        states = asyncio.run(finished_states(url))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        listener.stop()
        drop_postgres(name)
    return {
        "tests": lines,
        "runner_delivered": len(runner_arrivals),
        "runner_s": runner_s,
        "runner_ratio": runner_s / ADAPTER_LATENCY_S,
        "ordering_s": submitted - started,
        "orders_per_s": lines / (submitted - started),
        "http_delivered": len(http_arrivals),
        "http_s": http_s,
        "states": states,
    }


def main() -> dict[str, Any]:
    figures = run()
    tests = figures["tests"]
    print(
        f"service tests [postgresql]: {tests} tests accepted at once: "
        f"{figures['runner_delivered']} results delivered, the last {figures['runner_s']:.1f} s "
        f"after the commit ({figures['runner_ratio']:.1f}x the {ADAPTER_LATENCY_S:g} s adapter "
        f"latency; one at a time: {tests * ADAPTER_LATENCY_S:,.0f} s). Over HTTP: {tests} "
        f"orders in {figures['ordering_s']:.1f} s ({figures['orders_per_s']:.0f}/s), "
        f"{figures['http_delivered']} results delivered, the last {figures['http_s']:.1f} s "
        f"after the first order. Final states {figures['states']}"
    )
    return figures


if __name__ == "__main__":
    main()
