"""The client's address, seen through the reverse proxies the deployment trusts.

Behind a proxy every request comes from the proxy's address (``REMOTE_ADDR``), and the client's
own address is in ``X-Forwarded-For``, which each proxy extends with the address it received
the request from. Only the entries added by our own proxies can be believed: anything left of
them is whatever the client chose to send. With ``TRUSTED_PROXY_COUNT`` = n the client is the
n-th address from the right; with 0 (the default) the header is ignored.

One rule for everything that keys on the client: failed-login lock-outs (django-axes,
``AXES_CLIENT_IP_CALLABLE``) and the API's throttles (``config.throttles``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: Any) -> str | None:
    """The client's IP address for ``request`` (a Django or DRF request).

    ``REMOTE_ADDR`` unless ``TRUSTED_PROXY_COUNT`` is above 0 and ``X-Forwarded-For`` is set;
    then the entry that many places from the right (the leftmost if the header is shorter).
    A malformed entry counts as no header: the lock-out table stores addresses, and a made-up
    value must neither break it nor pick a key of the client's choosing.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded.strip():
        return remote
    entries = forwarded.split(",")
    return _address(entries[-min(proxies, len(entries))]) or remote
