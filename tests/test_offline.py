"""Nothing in the workbook touches the network: the suite runs with non-loopback connections blocked,
in this process and in every Python process it starts (kernels, grader workers)."""

import socket
import subprocess
import sys

import pytest


def test_this_process_is_guarded():
    assert getattr(socket.socket.connect, "__workbook_guard__", False)
    with socket.socket() as s, pytest.raises(OSError, match="network access is blocked"):
        s.connect(("203.0.113.1", 80))  # refused by the guard before any packet is sent


def test_child_processes_are_guarded():
    code = "import socket; print(getattr(socket.socket.connect, '__workbook_guard__', False))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_loopback_still_works():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
