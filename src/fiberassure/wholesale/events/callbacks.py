"""Which callback URLs a hub may use.

A callback is an outgoing request from inside the wholesaler's network, so private,
loopback and link-local destinations are refused unless a setting allows them
(FIBERASSURE_CALLBACK_ALLOW_PRIVATE, FIBERASSURE_CALLBACK_ALLOWLIST). The check runs when the
hub is registered and again before every delivery, on the addresses the name resolves to then.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from fiberassure.tmf.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(Exception):
    """The callback's destination is not allowed."""


def _is_public(address: IPAddress) -> bool:
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


class CallbackPolicy:
    def __init__(self, allow_private: bool, allowlist: list[str]) -> None:
        self.allow_private = allow_private
        self.allowed_hosts = {entry.lower() for entry in allowlist if "/" not in entry}
        self.allowed_networks = [
            ipaddress.ip_network(entry, strict=False) for entry in allowlist if "/" in entry
        ]

    def check_syntax(self, callback: str) -> str:
        """The callback's host name, or InvalidRequest explaining what is wrong."""
        if len(callback) > 2000:
            raise InvalidRequest("callback is longer than 2000 characters")
        try:
            parts = urlsplit(callback)
            port = parts.port
        except ValueError:
            raise InvalidRequest("callback is not a valid URL") from None
        if parts.scheme not in ("http", "https"):
            raise InvalidRequest("callback must be an http or https URL")
        if parts.username is not None or parts.password is not None:
            raise InvalidRequest("callback must not carry credentials; use the signing secret")
        if not parts.hostname:
            raise InvalidRequest("callback needs a host")
        if parts.fragment:
            raise InvalidRequest("callback must not have a #fragment")
        if port == 0:
            raise InvalidRequest("callback port 0 is not valid")
        return parts.hostname.lower()

    def _address_allowed(self, host: str, address: IPAddress) -> bool:
        if self.allow_private or host in self.allowed_hosts or _is_public(address):
            return True
        return any(address in network for network in self.allowed_networks)

    async def check_destination(self, callback: str) -> None:
        """Resolve the callback's host and refuse it when any address is not allowed."""
        host = self.check_syntax(callback)
        if self.allow_private or host in self.allowed_hosts:
            return
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError as error:
                raise CallbackRefused(f"cannot resolve {host}: {error}") from None
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        refused = [str(a) for a in addresses if not self._address_allowed(host, a)]
        if refused:
            raise CallbackRefused(
                f"{host} resolves to a private or loopback address ({', '.join(refused)}); "
                "set FIBERASSURE_CALLBACK_ALLOW_PRIVATE or FIBERASSURE_CALLBACK_ALLOWLIST "
                "to allow it"
            )
