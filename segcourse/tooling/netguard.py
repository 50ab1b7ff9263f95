"""Block the network inside a process: lessons must run offline.

``block_network()`` makes every socket connection (and DNS lookup) to a non-loopback address
raise ``NetworkBlocked``. Loopback stays open: the Jupyter kernel talks to its client over it.
"""
from __future__ import annotations

import ipaddress
import socket

__all__ = ["NetworkBlocked", "block_network"]


class NetworkBlocked(OSError):
    """Raised when code tries to reach the network while it is blocked."""


def _is_loopback(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def block_network() -> None:
    """Patch socket connect/getaddrinfo in this process to refuse non-loopback destinations."""
    if getattr(socket, "_segcourse_blocked", False):
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(address):
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise NetworkBlocked(f"network access blocked in the course: tried to reach {address[0]}")

    def connect(self, address):
        _check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        _check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            raise NetworkBlocked(f"network access blocked in the course: tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket._segcourse_blocked = True
