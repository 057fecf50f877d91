"""Every call to Twitter has an overall deadline and a body cap (issue 14.6), proven
against real loopback sockets: a host that drips bytes, and one that streams 200 MiB."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from django_twitter_oauth import client as client_module
from django_twitter_oauth.client import MAX_BODY, TwitterClient
from django_twitter_oauth.exceptions import MalformedResponse, TwitterUnavailable

Handler = Callable[[socket.socket], None]
OK_BODY = b'{"access_token":"gone"}'
TOKEN = "6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY"
SECRET = "2EEfA6BG5ly3sR3XjE0IBSnlQu4ZrUzPiYTmrkVU"


class Server:
    """A loopback HTTP server in threads: one ``handler`` call per connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stop = threading.Event()
        self.sent = 0
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> Server:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        self._listener.settimeout(0.05)  # closing it does not wake accept()
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.handler(conn)

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)


def read_request(conn: socket.socket) -> bool:
    """Read one request's head; False when the client closed the connection instead."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    return True


def answer(body: bytes = OK_BODY) -> Handler:
    def handle(conn: socket.socket) -> None:
        while read_request(conn):  # keep-alive: answer every request on this connection
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )

    return handle


@contextlib.contextmanager
def serving(make: Callable[[Server], Handler]) -> Iterator[Server]:
    server = Server(lambda conn: None)
    server.handler = make(server)
    with server:
        yield server


def drip(head: bytes, step: float = 0.3) -> Callable[[Server], Handler]:
    """Send ``head`` at once, then one byte every ``step`` seconds: no single read ever
    waits as long as the timeout."""

    def make(server: Server) -> Handler:
        def handle(conn: socket.socket) -> None:
            read_request(conn)
            server.send(conn, head)
            while not server.stop.wait(step):
                with contextlib.suppress(OSError):  # until the test ends, cut or not
                    server.send(conn, b"x")

        return handle

    return make


def stream(headers: bytes, chunked: bool) -> Callable[[Server], Handler]:
    """Answer 200 MiB, as fast as the client reads."""

    def make(server: Server) -> Handler:
        def handle(conn: socket.socket) -> None:
            read_request(conn)
            server.send(conn, headers)
            block = b"a" * 65536
            piece = b"10000\r\n" + block + b"\r\n" if chunked else block
            while True:  # until the client hangs up
                server.send(conn, piece)

        return handle

    return make


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"HTTP/1.1 2", id="status-line"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Slow: ", id="headers"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", id="body"),
        pytest.param(
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n", id="close-delimited"
        ),
    ],
)
@pytest.mark.parametrize("pooled", [False, True], ids=["one-off", "pooled"])
def test_a_dripping_host_is_cut_at_the_deadline(head: bytes, pooled: bool) -> None:
    with serving(drip(head)) as server:
        client = TwitterClient(api_url=server.url, timeout=1.0)
        started = time.monotonic()
        with (
            pytest.raises(TwitterUnavailable) as info,
            client if pooled else contextlib.nullcontext(),
        ):
            client.invalidate_token(TOKEN, SECRET)
        elapsed = time.monotonic() - started

    # The host drips for ever: only the deadline (1 s) ends the call. The margin is for a
    # loaded machine (two cores shared by the whole suite), not for the code.
    assert elapsed < 4.0
    assert str(info.value) == (
        "Twitter did not answer 1.1/oauth/invalidate_token within 1.0 seconds "
        "(TWITTER_OAUTH_TIMEOUT bounds the whole call)."
    )
    assert info.value.endpoint == "1.1/oauth/invalidate_token"


@pytest.mark.parametrize(
    ("headers", "chunked"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: " + str(200 * 2**20).encode() + b"\r\n\r\n",
            False,
            id="content-length",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", True, id="chunked"),
        pytest.param(b"HTTP/1.0 200 OK\r\n\r\n", False, id="close-delimited"),
    ],
)
def test_a_huge_body_is_refused_unread(headers: bytes, chunked: bool) -> None:
    with serving(stream(headers, chunked)) as server:
        client = TwitterClient(api_url=server.url, timeout=5)
        started = time.monotonic()
        with pytest.raises(MalformedResponse) as info:
            client.invalidate_token(TOKEN, SECRET)
        elapsed = time.monotonic() - started
        sent = server.sent

    assert str(info.value) == (
        f"Twitter's answer to 1.1/oauth/invalidate_token is longer than {MAX_BODY} bytes; "
        "it was not read."
    )
    assert info.value.status_code == 200
    assert elapsed < 4.0  # a margin for a loaded machine; ``sent`` is the real measure
    # The socket buffers hold a few MiB at most: nowhere near the 200 MiB on offer.
    assert sent < 32 * 2**20


@pytest.mark.parametrize("size", [MAX_BODY, MAX_BODY + 1])
def test_the_cap_is_exact(size: int) -> None:
    body = b'{"access_token":"' + b"a" * (size - 19) + b'"}'
    assert len(body) == size
    with serving(lambda server: answer(body)) as server:
        client = TwitterClient(api_url=server.url, timeout=5)
        if size > MAX_BODY:
            with pytest.raises(MalformedResponse, match="longer than"):
                client.invalidate_token(TOKEN, SECRET)
        else:
            client.invalidate_token(TOKEN, SECRET)


def test_calls_over_a_kept_connection() -> None:
    with serving(lambda server: answer()) as server:
        with TwitterClient(api_url=server.url, timeout=5) as client:
            for _ in range(3):
                client.invalidate_token(TOKEN, SECRET)
        assert server.connections == 1


def test_sessions_outside_a_call_work() -> None:
    with serving(lambda server: answer()) as server, client_module._new_session() as session:
        assert session.get(server.url, timeout=5).content == OK_BODY


def test_proxied_pools_are_watched() -> None:
    adapter = client_module._DeadlineAdapter()
    manager = adapter.proxy_manager_for("http://proxy.invalid:3128")

    assert manager.pool_classes_by_scheme == client_module._WATCHED_POOLS
    assert adapter.poolmanager.pool_classes_by_scheme == client_module._WATCHED_POOLS
    adapter.close()


def test_a_released_call_is_left_alone() -> None:
    a, b = socket.socketpair()
    with a, b:
        # Released well before its deadline (0.3 s; a loaded machine can take more than
        # a few milliseconds between two lines), then left past it.
        deadline = client_module._Deadline(0.3)
        deadline.sock = a
        client_module._watchdog.watch(deadline)
        client_module._watchdog.release(deadline)
        time.sleep(0.5)
        a.sendall(b"still open")

        assert not deadline.expired
        assert b.recv(100) == b"still open"


def test_the_watchdog_waits_for_a_socket() -> None:
    # Past the deadline while still connecting: the watchdog looks again until there is
    # a socket to shut down.
    a, b = socket.socketpair()
    with a, b:
        deadline = client_module._Deadline(0)
        client_module._watchdog.watch(deadline)
        time.sleep(0.12)
        assert deadline.expired
        deadline.sock = a
        b.settimeout(2)

        assert b.recv(100) == b""  # shut down
        client_module._watchdog.release(deadline)


def test_a_closed_socket_does_not_trouble_the_watchdog() -> None:
    a, b = socket.socketpair()
    b.close()
    a.close()
    deadline = client_module._Deadline(0)
    deadline.sock = a

    assert deadline.expire() is True


def test_the_watchdog_thread_is_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    watchdog = client_module._Watchdog()
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    watchdog._thread = dead
    deadline = client_module._Deadline(5)

    watchdog.watch(deadline)

    assert watchdog._thread is not dead
    assert watchdog._thread.is_alive()
    watchdog.release(deadline)


def test_connection_errors_keep_their_message() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    client = TwitterClient(api_url=f"http://127.0.0.1:{port}", timeout=5)

    with pytest.raises(TwitterUnavailable) as info:
        client.invalidate_token(TOKEN, SECRET)

    assert str(info.value) == (
        "Could not reach Twitter for 1.1/oauth/invalidate_token: ConnectionError."
    )
    assert isinstance(info.value.__cause__, requests.ConnectionError)


@pytest.fixture
def tls(tmp_path: Any) -> tuple[ssl.SSLContext, str]:
    """A server context with a self-signed certificate for 127.0.0.1, and the CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = tmp_path / "cert.pem"
    key_file = tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, str(cert_file)


@pytest.mark.parametrize("pooled", [False, True], ids=["one-off", "pooled"])
def test_a_dripping_https_host_is_cut_at_the_deadline(
    tls: tuple[ssl.SSLContext, str], monkeypatch: pytest.MonkeyPatch, pooled: bool
) -> None:
    context, ca_file = tls
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)

    def make(server: Server) -> Handler:
        plain = drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")(server)

        def handle(conn: socket.socket) -> None:
            with context.wrap_socket(conn, server_side=True) as secure:
                plain(secure)

        return handle

    with serving(make) as server:
        client = TwitterClient(api_url=server.url.replace("http:", "https:"), timeout=1.0)
        started = time.monotonic()
        with (
            pytest.raises(TwitterUnavailable, match="within 1.0 seconds"),
            client if pooled else contextlib.nullcontext(),
        ):
            client.invalidate_token(TOKEN, SECRET)

    assert time.monotonic() - started < 2.0


def test_an_idle_watchdog_wakes_for_a_new_call() -> None:
    watchdog = client_module._Watchdog()
    first = client_module._Deadline(0)
    watchdog.watch(first)
    watchdog.release(first)
    time.sleep(0.1)  # the heap is empty: the watchdog waits
    a, b = socket.socketpair()
    with a, b:
        second = client_module._Deadline(0)
        second.sock = a
        watchdog.watch(second)
        b.settimeout(2)

        assert b.recv(100) == b""
        assert second.expired
        watchdog.release(second)


class InMemoryAdapter(requests.adapters.BaseAdapter):
    """Answers with a body already in memory and no raw stream, as test doubles do."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        response = requests.Response()
        response.status_code = 200
        response._content = self.body
        response.request = request
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize("size", [MAX_BODY, MAX_BODY + 1])
def test_an_adapter_answering_in_memory(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    body = b'{"access_token":"' + b"a" * (size - 19) + b'"}'

    def new_session() -> requests.Session:
        session = requests.Session()
        session.mount("https://", InMemoryAdapter(body))
        return session

    monkeypatch.setattr(client_module, "_new_session", new_session)
    client = TwitterClient(timeout=5)
    if size > MAX_BODY:
        with pytest.raises(MalformedResponse, match="longer than"):
            client.invalidate_token(TOKEN, SECRET)
    else:
        client.invalidate_token(TOKEN, SECRET)


def test_a_forked_child_gets_its_own_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_watchdog", client_module._watchdog)
    parent = client_module._watchdog

    client_module._reset_after_fork()  # what os.register_at_fork runs in the child

    assert client_module._watchdog is not parent
    assert client_module._watchdog._thread is None
