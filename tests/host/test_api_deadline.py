"""An API that answers a byte at a time: each read is within requests' timeout, the whole
answer never comes. The client's request must end at api.timeout with a clear error
(a real TLS server on loopback, a bounded drip that stops by itself)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time

import pytest

from phoenix_remote.config.models import ApiTarget
from phoenix_remote.config.secrets import Secret
from phoenix_remote.errors import ApiError
from phoenix_remote.host.api import PveClient
from tests.steps.test_step_cases import host_config


@pytest.fixture
def dripping_api(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem")], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    stop = threading.Event()
    served: list[int] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)  # the request
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 10000\r\n\r\n{")
            for _ in range(150):  # at most 30 s, then it stops by itself
                if stop.wait(0.2):
                    break
                try:
                    tls.sendall(b" ")
                    served.append(1)
                except OSError:
                    break
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], served
    stop.set()
    listener.close()
    thread.join(5)


class InsecureHost:
    """Enough of a Host for the client: the API's TLS is not verified (a test cert)."""
    name = "h1"
    insecure = True

    def __init__(self, cfg):
        self.cfg = cfg


def test_a_dripping_api_ends_at_the_deadline(dripping_api):
    port, served = dripping_api
    base = host_config({"config": {"retry": {"attempts": 1, "delay_seconds": 0}}})
    cfg = base.model_copy(update={
        "api": ApiTarget(url=f"https://127.0.0.1:{port}", token_id="root@pam!t", timeout=1.0),
        "secrets": {**base.secrets, "api_token": Secret("x" * 36, "test")}})
    client = PveClient(InsecureHost(cfg), major=8)
    t0 = time.monotonic()
    with pytest.raises(ApiError) as err:
        client.get("/nodes")
    took = time.monotonic() - t0
    assert "no complete answer within api.timeout (1 s)" in str(err.value)
    assert took < 5, took  # the drip would have gone on for 30 s
    assert served, "the server was dripping when the client gave up"
