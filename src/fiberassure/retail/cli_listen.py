"""`fiberassure retail listen`: run the notification listener (registered by the retail CLI
as `retail_app.command("listen")(listen_command)`)."""

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
import uvicorn
from sqlalchemy.engine import make_url

from fiberassure.retail.client import HubApi
from fiberassure.retail.listener.app import create_app
from fiberassure.retail.listener.models import RegisteredHub
from fiberassure.retail.listener.repository import ListenerRepository
from fiberassure.retail.listener.settings import ListenerSettings
from fiberassure.retail.listener.store import create_schema, open_store
from fiberassure.wholesale.logs import configure_logging

HUB_APIS: tuple[HubApi, ...] = ("troubleTicket", "serviceTest")
# Every event of both APIs: one hub per API (order is kept per hub).
EVERYTHING: tuple[tuple[HubApi, str | None], ...] = tuple((api, None) for api in HUB_APIS)


def parse_subscription(text: str) -> tuple[HubApi, str | None]:
    """`serviceTest:eventType=…&event.serviceTest.state=completed` → (api, query)."""
    api, _, query = text.partition(":")
    if api not in HUB_APIS:
        raise typer.BadParameter(f"{text!r}: start with troubleTicket: or serviceTest:")
    return api, query or None


def callback_url(public_url: str) -> str:
    """The one callback both hubs use: every event name arrives at `…/listener`."""
    return public_url.rstrip("/") + "/listener"


async def register(
    settings: ListenerSettings,
    client: Any | None = None,
    subscriptions: tuple[tuple[HubApi, str | None], ...] = EVERYTHING,
) -> list[RegisteredHub]:
    """Create this listener's hubs, one per (API, query) of `subscriptions` (default: every
    event of both APIs), replacing any earlier hubs of the same callback (deleted on the
    wholesale side and here), and store the new secrets.

    `client` is an `AsyncRetailClient` (one is made from the settings when not given)."""
    from fiberassure.retail.client import AsyncRetailClient

    callback = callback_url(settings.public_url)
    owned = client is None
    wholesale = client or AsyncRetailClient(
        settings.wholesale_url, settings.client_id, settings.client_secret
    )
    database = open_store(settings.database_url)
    created: list[RegisteredHub] = []
    try:
        await create_schema(database)
        for api in HUB_APIS:
            for hub in await wholesale.list_hubs(api):
                if hub.callback == callback:
                    await wholesale.delete_hub(api, hub.id)
        for api, query in subscriptions:
            hub = await wholesale.create_hub(api, callback, query)
            if not hub.secret:
                raise RuntimeError(f"the wholesaler returned no secret for hub {hub.id}")
            created.append(
                RegisteredHub(
                    id=hub.id,
                    api=api,
                    callback=callback,
                    secret=hub.secret,
                    created_at=datetime.now(UTC),
                )
            )
        async with database.transaction() as session:
            repository = ListenerRepository(session)
            for old in await repository.hubs():
                if old.callback == callback:
                    await repository.delete_hub(old.id)
            for hub_row in created:
                await repository.add_hub(hub_row)
    finally:
        await database.dispose()
        if owned:
            await wholesale.aclose()
    return created


def listen_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    database_url: Annotated[
        str | None,
        typer.Option(help="sqlite:///file.db or postgresql://… [FIBERASSURE_RETAIL_DATABASE_URL]"),
    ] = None,
    wholesale_url: Annotated[
        str | None,
        typer.Option(help="The wholesale API base URL. [FIBERASSURE_RETAIL_WHOLESALE_URL]"),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="API client id. [FIBERASSURE_RETAIL_CLIENT_ID]")
    ] = None,
    client_secret: Annotated[
        str | None, typer.Option(help="API client secret. [FIBERASSURE_RETAIL_CLIENT_SECRET]")
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="This listener's URL as the wholesaler reaches it (default: "
            "http://HOST:PORT). [FIBERASSURE_RETAIL_PUBLIC_URL]"
        ),
    ] = None,
    do_register: Annotated[
        bool,
        typer.Option(
            "--register",
            help="Create (or replace) hubs for both APIs at PUBLIC_URL/listener and keep "
            "their secrets.",
        ),
    ] = False,
    forward_command: Annotated[
        str | None,
        typer.Option(
            help="Run this for each new event, event JSON on stdin. "
            "[FIBERASSURE_RETAIL_FORWARD_COMMAND]"
        ),
    ] = None,
    forward_url: Annotated[
        str | None,
        typer.Option(help="POST each new event here. [FIBERASSURE_RETAIL_FORWARD_URL]"),
    ] = None,
    subscribe: Annotated[
        list[str] | None,
        typer.Option(
            help="With --register: API:QUERY, one hub each, e.g. "
            "'serviceTest:event.serviceTest.state=completed,failed' (repeatable; default: "
            "every event of both APIs).",
        ),
    ] = None,
    reconcile_interval: Annotated[
        str | None,
        typer.Option(
            help="Pull changes this often: seconds or ISO-8601, 0 = never (default 5 min). "
            "[FIBERASSURE_RETAIL_RECONCILE_INTERVAL]"
        ),
    ] = None,
) -> None:
    """Receive, verify and store the wholesaler's event notifications; keep a mirror of your
    tickets and tests (docs/retail-listener.md)."""
    given: dict[str, Any] = {
        "database_url": database_url,
        "wholesale_url": wholesale_url,
        "client_id": client_id,
        "client_secret": client_secret,
        "public_url": public_url,
        "forward_command": forward_command,
        "forward_url": forward_url,
        "reconcile_interval": reconcile_interval,
    }
    try:
        settings = ListenerSettings.model_validate(
            {k: v for k, v in given.items() if v is not None}
        )
    except ValueError as error:
        typer.echo(f"invalid settings: {error}", err=True)
        raise typer.Exit(2) from None
    configure_logging("console")
    if not settings.public_url:
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings = settings.model_copy(update={"public_url": f"http://{shown_host}:{port}"})
    if do_register:
        if not settings.can_call_wholesaler:
            typer.echo(
                "--register needs --wholesale-url, --client-id and --client-secret", err=True
            )
            raise typer.Exit(2)
        from fiberassure.retail.errors import FiberassureError

        try:
            subscriptions = (
                tuple(parse_subscription(text) for text in subscribe) if subscribe else EVERYTHING
            )
            hubs = asyncio.run(register(settings, subscriptions=subscriptions))
        except FiberassureError as error:
            typer.echo(f"registration failed: {error}", err=True)
            raise typer.Exit(1) from None
        for hub in hubs:
            typer.echo(f"registered hub {hub.id} ({hub.api}) → {hub.callback}")
    url = callback_url(settings.public_url)
    typer.echo(f"fiberassure retail listener on http://{host}:{port}  (callback: {url})")
    typer.echo(f"database: {make_url(settings.database_url).render_as_string(hide_password=True)}")
    if not settings.can_call_wholesaler:
        typer.echo("no wholesale credentials: gaps are not fetched and nothing is reconciled")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
