"""Loaded by every Python process the test suite starts (it is put on PYTHONPATH by tests/conftest.py):
connections to anything but this machine fail at once with a clear message, so a test or notebook
that tries to download fails loudly instead of hanging or silently succeeding."""

import ipaddress
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # a Unix socket path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname other than localhost


def _refuse(address):
    raise OSError(f"network access is blocked in the workbook's tests (tried to reach {address!r});"
                  " everything must run offline from the bundled files")


def guarded_connect(self, address):
    if not _is_local(address):
        _refuse(address)
    return _connect(self, address)


def guarded_connect_ex(self, address):
    if not _is_local(address):
        _refuse(address)
    return _connect_ex(self, address)


guarded_connect.__workbook_guard__ = True
socket.socket.connect = guarded_connect
socket.socket.connect_ex = guarded_connect_ex
