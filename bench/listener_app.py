"""A bare keep-alive webhook receiver for benchmarks: notes when each message arrived.

Run with uvicorn in its own process so it does not share an event loop with what is measured.
"""

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

arrivals: dict[str, float] = {}


async def receive(request: Request) -> Response:
    await request.body()
    message_id = request.headers.get("webhook-id")
    if message_id is not None:
        arrivals.setdefault(message_id, time.time())
    return Response(b"ok")


async def stats(_: Request) -> JSONResponse:
    return JSONResponse(arrivals)


async def reset(_: Request) -> Response:
    arrivals.clear()
    return Response(b"ok")


app = Starlette(
    routes=[
        Route("/hook", receive, methods=["POST"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
    ]
)
