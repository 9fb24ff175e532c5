"""ProxyHeaders: behind a reverse proxy, the client's address, scheme and host as it saw them.

::

    app.add_middleware(ProxyHeaders(trusted=["127.0.0.1", "10.0.0.0/8"]))

When the request comes from a trusted peer (the proxy), ``Forwarded`` (RFC 7239)
or, without it, ``X-Forwarded-For`` / ``X-Forwarded-Proto`` / ``X-Forwarded-Host``
set ``req.client``, ``req.scheme`` and ``req.host``, so ``req.url``, ``url_for``
links and redirects name the public address. From any other peer the headers are
ignored: a client could otherwise claim any address. Websocket handshakes get the
same treatment (registered as a ``before_websocket`` hook).

With several proxies in a row, the address lists are read from the right (the
nearest proxy) and every trusted address is skipped: the client is the first
untrusted one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable

from ..connection import HTTPConnection
from ..request import Request
from ..response import Response

__all__ = ["ProxyHeaders"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# One Forwarded pair: name=token or name="quoted string".
_PAIR = re.compile(r'\s*([A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,"\s]*)\s*')
_HOST = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z")


class ProxyHeaders:
    """Trust what the proxies in ``trusted`` say about the client.

    ``trusted`` holds addresses and networks (``"127.0.0.1"``, ``"10.0.0.0/8"``,
    ``"::1"``), or ``"*"`` to trust every peer (only when nothing but the proxy can
    reach the app, e.g. a unix socket). The default trusts a proxy on the same host.
    """

    inline = True  # awaits nothing but call_next (see twinframe.chain)

    def __init__(self, trusted: Iterable[str] = ("127.0.0.1", "::1")) -> None:
        if isinstance(trusted, str):
            raise TypeError("trusted is a list of addresses, e.g. ['127.0.0.1']")
        entries = [entry.strip() for entry in trusted]
        self.trust_all = "*" in entries
        networks: list[_Network] = []
        for entry in entries:
            if entry == "*":
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"trusted proxy {entry!r} is not an IP address or network "
                    "(e.g. '127.0.0.1', '10.0.0.0/8', '::1')"
                ) from None
        self._networks = tuple(networks)

    def __repr__(self) -> str:
        return (
            f"<ProxyHeaders trusted={'*' if self.trust_all else [str(n) for n in self._networks]}>"
        )

    def trusts(self, address: str | None) -> bool:
        """True if a peer at ``address`` (an IP, or None for a unix socket) is a trusted proxy."""
        if self.trust_all:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)

    async def __call__(
        self, req: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        self.apply(req)
        return await call_next(req)

    def before_websocket(self, ws: HTTPConnection) -> None:
        """The same for websocket handshakes (``add_middleware`` registers it)."""
        self.apply(ws)

    def apply(self, conn: HTTPConnection) -> None:
        """Take client, scheme and host from ``conn``'s proxy headers, if its peer is trusted."""
        peer = conn.client
        if not self.trusts(peer[0] if peer else None):
            return
        forwarded = conn._header("forwarded")
        if forwarded:
            hops = _parse_forwarded(forwarded)
            fors = [hop.get("for", "") for hop in hops]
            protos = [hop.get("proto", "") for hop in hops]
            hosts = [hop.get("host", "") for hop in hops]
        else:
            fors = _split(conn._header("x-forwarded-for"))
            protos = _split(conn._header("x-forwarded-proto"))
            hosts = _split(conn._header("x-forwarded-host"))
            if not (fors or protos or hosts):
                return
        index = self._client_index(fors)
        client = _address(fors[index]) if index is not None else None
        scheme = _pick(protos, index, len(fors)).lower()
        host = _pick(hosts, index, len(fors))
        if scheme not in ("http", "https"):
            scheme = ""
        elif conn.scheme in ("ws", "wss"):
            scheme = "wss" if scheme == "https" else "ws"
        if host and not _HOST.match(host):
            host = ""
        conn._set_forwarded(client, scheme or None, host or None)

    def _client_index(self, fors: list[str]) -> int | None:
        """The position of the client in a for-list: the rightmost untrusted address."""
        if not fors:
            return None
        for index in range(len(fors) - 1, -1, -1):
            address = _address(fors[index])
            if address is None or not self.trusts(address[0]):
                return index
        return 0  # every hop is a trusted proxy: the first is the client


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in value.split(",")] if value else []


def _pick(values: list[str], index: int | None, hops: int) -> str:
    """The value set by the proxy that saw the client: the same position when the lists
    line up, else the one value, else the last (the nearest proxy's)."""
    if not values:
        return ""
    if index is not None and len(values) == hops:
        return values[index]
    return values[-1]


def _address(value: str) -> tuple[str, int] | None:
    """``(ip, port)`` from a for-value (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``), else None."""
    value = value.strip()
    port = 0
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = int(port_text) if port_text.isdigit() else 0
    else:
        host = value
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        return None  # "unknown", an obfuscated "_name", or garbage


def _parse_forwarded(header: str) -> list[dict[str, str]]:
    """The elements of a Forwarded header, each a dict of lower-case names to values."""
    hops: list[dict[str, str]] = []
    for element in _split_outside_quotes(header, ","):
        pairs: dict[str, str] = {}
        for part in _split_outside_quotes(element, ";"):
            match = _PAIR.fullmatch(part)
            if match is None:
                continue
            name, value = match.group(1).lower(), match.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            pairs.setdefault(name, value)
        hops.append(pairs)
    return hops


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]
