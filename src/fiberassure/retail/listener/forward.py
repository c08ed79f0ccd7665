"""Handing each new event to the ISP's helpdesk: a command (the event JSON on its stdin) or
a URL (POSTed as JSON). Best effort and in arrival order, after the webhook was answered:
a failure is logged, and the event stays in the listener's store either way."""

import asyncio
import contextlib
import shlex
from datetime import timedelta

import httpx
import structlog

from fiberassure import __version__

log = structlog.get_logger(__name__)
QUEUE_LIMIT = 10_000


class Forwarder:
    def __init__(
        self,
        *,
        command: str = "",
        url: str = "",
        timeout: timedelta = timedelta(seconds=10),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.command = shlex.split(command) if command else []
        self.url = url
        self.timeout = timeout.total_seconds()
        self._transport = transport
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
        self._worker: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self.forwarded = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return bool(self.command or self.url)

    def submit(self, body: bytes) -> None:
        """Queue one event (never waits); dropped with a log line when the queue is full."""
        if not self.enabled:
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            self.failed += 1
            log.error("forward queue full: event not forwarded", limit=QUEUE_LIMIT)

    async def drain(self) -> None:
        """Until every queued event was handed over (for tests and shutdown)."""
        await self._queue.join()

    async def close(self) -> None:
        if self._worker is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout=self.timeout)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._http is not None:
            await self._http.aclose()

    async def _work(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self._forward(body)
                self.forwarded += 1
            except Exception as error:
                self.failed += 1
                log.warning("event not forwarded", error=f"{type(error).__name__}: {error}")
            finally:
                self._queue.task_done()

    async def _forward(self, body: bytes) -> None:
        if self.command:
            await self._run_command(body)
        else:
            await self._post(body)

    async def _run_command(self, body: bytes) -> None:
        process = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, stderr = await asyncio.wait_for(process.communicate(body), timeout=self.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(f"{self.command[0]} did not finish in {self.timeout:g} s") from None
        if process.returncode != 0:
            detail = stderr.decode(errors="replace").strip()[:500]
            raise RuntimeError(f"{self.command[0]} exited with {process.returncode}: {detail}")

    async def _post(self, body: bytes) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.timeout,
                transport=self._transport,
                headers={"User-Agent": f"fiberassure-listener/{__version__}"},
            )
        response = await self._http.post(
            self.url, content=body, headers={"Content-Type": "application/json"}
        )
        response.raise_for_status()
