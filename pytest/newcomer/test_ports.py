"""The free-port probe of `toolbox up`: a port in TIME_WAIT is free, a listened-on port is not."""

from __future__ import annotations

import socket

from config.embedded import free_port, port_is_free


def _time_wait_on_server_port() -> int:
    """A port whose server closed a connection first (as uvicorn and PostgreSQL do on shutdown)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = int(server.getsockname()[1])
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    server.close()
    accepted.close()  # the server side closes first: its end stays in TIME_WAIT
    client.recv(1)
    client.close()
    return port


def test_a_port_left_in_time_wait_is_reused() -> None:
    port = _time_wait_on_server_port()
    with socket.socket() as plain:  # what the old probe did: it fails here
        try:
            plain.bind(("127.0.0.1", port))
            plain_bind_worked = True
        except OSError:
            plain_bind_worked = False
    assert not plain_bind_worked, "no TIME_WAIT socket was left; the test proves nothing"
    assert port_is_free(port)
    assert free_port(port) == port


def test_a_port_another_program_listens_on_is_not_reused() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = int(other.getsockname()[1])
        assert not port_is_free(port)
        assert free_port(port) != port
