"""Helpers for building and driving trouble tickets through the HTTP API in tests."""

from typing import Any

import httpx

TICKETS = "/tmf-api/troubleTicket/v4/troubleTicket"
OPS_TICKETS = "/ops/v1/troubleTicket"


def ticket_body(service_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": "No internet since this morning; the ONT's LOS light is red.",
        "severity": "critical",
        "ticketType": "noService",
        "relatedEntity": [
            {"id": service_id, "role": "affectedService", "@referredType": "Service"}
        ],
        "subscriberContact": {"name": "Jan Kowalski", "phoneNumber": "+48 600 100 200"},
    }
    body.update(overrides)
    return body


async def create_ticket(
    http: httpx.AsyncClient, auth: dict[str, str], service_id: str, **overrides: Any
) -> dict[str, Any]:
    response = await http.post(TICKETS, json=ticket_body(service_id, **overrides), headers=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def ops_action(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    ticket_id: str,
    action: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    return await http.post(f"{OPS_TICKETS}/{ticket_id}/{action}", json=body or {}, headers=auth)


async def patch_ticket(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    ticket_id: str,
    body: dict[str, Any],
    **headers: str,
) -> httpx.Response:
    return await http.patch(
        f"{TICKETS}/{ticket_id}",
        json=body,
        headers={**auth, "Content-Type": "application/merge-patch+json", **headers},
    )
