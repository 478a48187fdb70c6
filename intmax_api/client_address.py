"""Who the client is, for the rate limit: the TCP peer, or what trusted proxies say it is.

`X-Forwarded-For` is believed only when the TCP peer is one of INTMAX_TRUSTED_PROXIES (IPs or
CIDRs; empty by default, so the header is ignored and nobody can pick their own rate-limit
bucket). Behind trusted proxies, the list is read from the right (each proxy appends the address
it received the request from): the client is the first entry that is not itself a trusted proxy.
Entries to its left were written by the client and prove nothing. A malformed entry stops the walk,
and the last trusted hop is taken as the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[IpNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[IpNetwork, ...]) -> str:
    """The client's address as a string; "unknown" when there is no peer (e.g. a unix socket)."""
    if not peer:
        return "unknown"
    current = _ip(peer)
    if current is None or not trusted or not forwarded_for or not _trusted(current, trusted):
        return peer
    for entry in reversed(forwarded_for.split(",")):
        hop = _ip(entry)
        if hop is None:
            break
        current = hop
        if not _trusted(hop, trusted):
            break
    return str(current)
