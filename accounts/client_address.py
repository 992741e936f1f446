"""The address a request came from: the one function that decides it.

Sign-in throttling and the security log both key on it, so it must be an address the
client cannot choose. `X-Forwarded-For` is written by the client as much as by any
proxy, so it is believed only hop by hop from our side: starting at the peer that
connected to us, each hop is trusted only if it is listed in `TRUSTED_PROXIES`, and
then the address it reports (the next one to the left) is taken. The first address
that is not a trusted proxy is the client. With no trusted proxies (the default) the
header is ignored and the client is the connecting peer.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {entry!r} is not an address or a network "
                "(e.g. 10.0.0.5 or 10.0.0.0/24)."
            ) from None
    return tuple(networks)


def _parse(value: str) -> Address | None:
    """An address as a proxy writes it: bare, `[v6]`, `[v6]:port` or `v4:port`."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket is the same client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_address(request: HttpRequest) -> str | None:
    """The client's address, normalised (e.g. `2001:db8::7`), or None if unknown."""
    peer = _parse(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    trusted = _trusted_networks(tuple(settings.TRUSTED_PROXIES))

    def is_trusted(address: Address) -> bool:
        return any(address in network for network in trusted)

    client = peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    while is_trusted(client) and hops:
        reported = _parse(hops.pop())
        if reported is None:
            # A trusted proxy passed on something that is not an address: what lies
            # beyond it cannot be known, so the last proxy we can vouch for stands in.
            break
        client = reported
    return str(client)
