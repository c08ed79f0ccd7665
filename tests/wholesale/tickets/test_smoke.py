import httpx

from tests.conftest import World
from tests.tickets import TICKETS, create_ticket, ops_action


async def test_created_ticket_is_acknowledged_and_readable(
    http: httpx.AsyncClient, retail_a: dict[str, str], ops: dict[str, str], world: World
) -> None:
    ticket = await create_ticket(http, retail_a, world.a.services[0])
    assert ticket["status"] == "acknowledged"
    fetched = await http.get(f"{TICKETS}/{ticket['id']}", headers=retail_a)
    assert fetched.status_code == 200
    assert fetched.json()["id"] == ticket["id"]
    started = await ops_action(http, ops, ticket["id"], "start")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "inProgress"
