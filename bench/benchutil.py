"""What the bench/ scripts share (scripts/bench keeps its own copy: it runs
from scripts/ and must stand alone for `make bench`)."""
import socket


def free_port():
    """A TCP port free on 127.0.0.1 now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
