"""Which IP address a request really comes from.

``REMOTE_ADDR`` is the TCP peer. Behind nginx (or a load balancer) that is the proxy, and the
client is in ``X-Forwarded-For``, which each proxy extends on the right with the peer it saw.
Anything left of the entries our own proxies wrote was written by the client and is worthless,
so the header is read right to left only while the address just read is a trusted proxy
(``TRUSTED_PROXIES``); the first address that is not is the client. A peer that is not a
trusted proxy gets its header ignored entirely, so forging it changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(value: str) -> Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client reaching a dual-stack socket shows up as ::ffff:a.b.c.d; it is a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def in_networks(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def resolve(remote_addr: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client address for a peer ``remote_addr`` that sent ``forwarded_for``."""
    peer = parse_ip(remote_addr)
    # No IP at all means a Unix socket: only a local process, i.e. our own proxy, can be there.
    peer_trusted = peer is None or in_networks(peer, trusted)
    client: Address | str = peer if peer is not None else (remote_addr or "unknown")
    if forwarded_for and peer_trusted:
        for entry in reversed(forwarded_for.split(",")):
            hop = parse_ip(entry)
            if hop is None:
                # Garbage means whoever wrote it is not one of our proxies: stop at the last
                # address a trusted proxy vouched for.
                break
            client = hop
            if not in_networks(hop, trusted):
                break
    return str(client)


def client_ip(request: HttpRequest) -> str:
    """The client address of ``request`` (computed once, then kept on the request)."""
    cached = getattr(request, "client_ip", None)
    if cached is None:
        cached = resolve(
            request.META.get("REMOTE_ADDR", ""),
            request.META.get("HTTP_X_FORWARDED_FOR"),
            settings.TRUSTED_PROXIES,
        )
        request.client_ip = cached  # type: ignore[attr-defined]
    return cached
