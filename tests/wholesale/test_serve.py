"""`fiberassure wholesale serve` and `worker` as real processes, used as a new user would.

These are the only tests that wait on the wall clock: the server runs in its own process with
the system clock, so the auto-close delay is set to seconds and polled with a bound.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fiberassure.cli import app as cli
from fiberassure.wholesale.db import sync_url
from fiberassure.wholesale.inventory.models import Service
from fiberassure.wholesale.operators.models import ApiClient, Operator
from tests.databases import database_url_for, postgres_database
from tests.tickets import OPS_TICKETS, TICKETS, ticket_body

FIBERASSURE = Path(sys.executable).with_name("fiberassure")
START_TIMEOUT = 30.0
CLOSE_TIMEOUT = 15.0
DEMO_CREDENTIALS = (
    ("demo-retail-a", "demo-retail-a-secret"),
    ("demo-retail-b", "demo-retail-b-secret"),
    ("demo-ops", "demo-ops-secret"),
)
DATABASE_PASSWORD = "never-printed-secret"
FAST_DEADLINES = {"auto_close_after": "2", "scheduler_interval": "0.2"}

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any FIBERASSURE_* variable, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIBERASSURE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"FIBERASSURE_{name.upper()}": value for name, value in settings.items()})
    return env


@dataclass
class Process:
    popen: "subprocess.Popen[bytes]"
    stdout_path: Path
    stderr_path: Path

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")


def stop(popen: "subprocess.Popen[bytes]") -> None:
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10)


@contextmanager
def running(name: str, args: list[str], cwd: Path, env: dict[str, str]) -> Iterator[Process]:
    """`fiberassure wholesale <args>` in the background; stopped on the way out."""
    stdout_path, stderr_path = cwd / f"{name}.stdout", cwd / f"{name}.stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        popen = start(args, cwd, env, out, err)
        try:
            yield Process(popen, stdout_path, stderr_path)
        finally:
            stop(popen)


def start(
    args: list[str], cwd: Path, env: dict[str, str], out: BinaryIO, err: BinaryIO
) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        [str(FIBERASSURE), "wholesale", *args], cwd=cwd, env=env, stdout=out, stderr=err
    )


@contextmanager
def serving(
    name: str, args: list[str], cwd: Path, env: dict[str, str]
) -> Iterator[tuple[Process, str]]:
    """`serve` on a free port, once /health answers; yields the process and its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(name, ["serve", "--port", str(port), *args], cwd, env) as process:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.popen.poll() is not None:
                pytest.fail(f"serve exited with {process.popen.returncode}:\n{process.stderr()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"serve did not answer /health in {START_TIMEOUT} s:\n{process.stderr()}"
                )
            time.sleep(0.1)
        yield process, url


def bearer(api: httpx.Client, client_id: str, client_secret: str) -> dict[str, str]:
    response = api.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def open_and_resolve(api: httpx.Client, retail: dict[str, str], ops: dict[str, str]) -> str:
    """A retail ticket on the first demo line, driven by the NOC to resolved; returns its id."""
    created = api.post(TICKETS, json=ticket_body("SRV-000001"), headers=retail)
    assert created.status_code == 201, created.text
    ticket_id: str = created.json()["id"]
    for action in ("start", "resolve"):
        response = api.post(f"{OPS_TICKETS}/{ticket_id}/{action}", json={}, headers=ops)
        assert response.status_code == 200, response.text
    assert response.json()["status"] == "resolved"
    return ticket_id


def ticket(api: httpx.Client, ticket_id: str, retail: dict[str, str]) -> dict[str, Any]:
    response = api.get(f"{TICKETS}/{ticket_id}", headers=retail)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_until_closed(
    api: httpx.Client, ticket_id: str, retail: dict[str, str], timeout: float = CLOSE_TIMEOUT
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = ticket(api, ticket_id, retail)
        if current["status"] != "resolved" or time.monotonic() > deadline:
            return current
        time.sleep(0.2)


def seconds_between(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_settings(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """No setting (the default SQLite file in the working directory), or a PostgreSQL URL.

    The PostgreSQL URL carries a password (ignored by the trust-auth test server) so the test
    can check that serve does not print it.
    """
    if request.param == "sqlite":
        yield {}
    else:
        with postgres_database() as url:
            with_password = make_url(url).set(password=DATABASE_PASSWORD)
            yield {"database_url": with_password.render_as_string(hide_password=False)}


def test_demo_server_prints_its_credentials_and_auto_closes_a_resolved_ticket(
    tmp_path: Path, database_settings: dict[str, str]
) -> None:
    env = environment(**FAST_DEADLINES, **database_settings)

    with (
        serving("serve", ["--demo"], tmp_path, env) as (server, url),
        httpx.Client(base_url=url, timeout=10) as api,
    ):
        printed = server.stdout()
        assert f"fiberassure wholesale API on {url}" in printed
        assert "demo network: 322 services" in printed
        for client_id, client_secret in DEMO_CREDENTIALS:
            assert any(
                f"client_id={client_id} " in line and f"client_secret={client_secret}" in line
                for line in printed.splitlines()
            ), printed
        if database_settings:
            assert "database: postgresql://postgres:***@" in printed
            assert DATABASE_PASSWORD not in printed
        else:
            assert "database: sqlite:///fiberassure.db" in printed
            assert (tmp_path / "fiberassure.db").is_file()

        retail = bearer(api, "demo-retail-a", "demo-retail-a-secret")
        ops = bearer(api, "demo-ops", "demo-ops-secret")
        ticket_id = open_and_resolve(api, retail, ops)
        closed = wait_until_closed(api, ticket_id, retail)

    assert closed["status"] == "closed", closed
    assert closed["statusChangeReason"] == "autoClosed"
    assert seconds_between(closed["statusChangeDate"], closed["resolutionDate"]) >= 2


def test_separate_worker_closes_tickets_when_serve_runs_without_background(
    tmp_path: Path,
) -> None:
    # Two processes on one SQLite file: the case where locking could go wrong.
    env = environment(**FAST_DEADLINES)

    with (
        serving("serve", ["--demo", "--no-background"], tmp_path, env) as (server, url),
        httpx.Client(base_url=url, timeout=10) as api,
    ):
        retail = bearer(api, "demo-retail-a", "demo-retail-a-secret")
        ops = bearer(api, "demo-ops", "demo-ops-secret")
        ticket_id = open_and_resolve(api, retail, ops)
        with running("worker", ["worker"], tmp_path, env) as worker:
            closed = wait_until_closed(api, ticket_id, retail)
            assert worker.popen.poll() is None, worker.stderr()

    assert closed["status"] == "closed", closed
    assert closed["statusChangeReason"] == "autoClosed"
    # Each process logs the deadlines it handled: the worker closed it, serve stayed out.
    assert "fiberassure worker running" in worker.stdout()
    assert "deadlines handled" in worker.stdout()
    assert "autoClosed=1" in worker.stdout()
    assert "deadlines handled" not in server.stdout()


def test_demo_twice_on_the_same_database_does_not_duplicate_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # In-process with the listening part stubbed (seeding happens before it; the tests above
    # start real `serve --demo` processes on both databases). The check for an existing demo
    # does not depend on the database, so SQLite alone keeps this quick.
    served: list[int] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: served.append(options["port"]))
    with database_url_for("sqlite", tmp_path) as url:
        for port in (free_port(), free_port()):
            result = CliRunner().invoke(
                cli,
                ["wholesale", "serve", "--demo", "--port", str(port)],
                env={"FIBERASSURE_DATABASE_URL": url},
            )
            assert result.exit_code == 0, result.output
            assert "demo network: 322 services" in result.stdout
            assert "client_secret=demo-retail-a-secret" in result.stdout

        engine = create_engine(sync_url(url))
        try:
            with Session(engine) as session:
                counts = {
                    model.__name__: session.scalar(select(func.count()).select_from(model))
                    for model in (Operator, ApiClient, Service)
                }
        finally:
            engine.dispose()

    assert len(served) == 2
    assert counts == {"Operator": 2, "ApiClient": 3, "Service": 322}


def test_production_without_a_signing_key_refuses_to_start(tmp_path: Path) -> None:
    # In-process: the refusal happens before anything is started or opened.
    database = tmp_path / "fiberassure.db"
    result = CliRunner().invoke(
        cli,
        ["wholesale", "serve", "--port", str(free_port())],
        env={
            "FIBERASSURE_ENVIRONMENT": "production",
            "FIBERASSURE_TOKEN_SIGNING_KEY": None,
            "FIBERASSURE_DATABASE_URL": f"sqlite:///{database}",
        },
    )

    assert result.exit_code != 0
    assert "FIBERASSURE_TOKEN_SIGNING_KEY must be set in production" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not database.exists(), "it opened the database before refusing"
