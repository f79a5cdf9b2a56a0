"""A Docker API socket for the pages' shells, relaying to the engine and noting what is made.

The page's bash gets DOCKER_HOST pointing at our socket. Every byte goes on to
the engine as it came; on the way, h11 parses the HTTP of both directions so
that `Attribution` can record what each request made and refuse what would
remove something that is not the run's. (One rare exception: an image removal
that would make the engine also delete a user's untagged parent image goes on
with noprune=1.) After a protocol switch (attach, exec, BuildKit's session)
the connection is piped without parsing.

    with EngineProxy() as proxy:
        ...  # run pages with DOCKER_HOST=proxy.docker_host
    report = proxy.ledger.cleanup(docker.from_env())
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import h11

from .attribution import ApiCall, Attribution, Engine, Outcome, Refusal
from .ledger import Ledger

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# A build's head carries every registry login in one header.
MAX_HEAD = 1024 * 1024
STARTUP_SECONDS = 5
RAW_STREAMS = (b"application/vnd.docker.raw-stream", b"application/vnd.docker.multiplexed-stream")


class EngineProxy:
    """A unix socket that relays to the Docker engine at `upstream` and records into `ledger`.

    `upstream` is a socket path, unix:///path or tcp://host:port; by default
    DOCKER_HOST, else /var/run/docker.sock. The socket lives in a fresh
    directory under `socket_dir` (default: the system's temporary directory).
    """

    def __init__(
        self,
        upstream: str | None = None,
        ledger: Ledger | None = None,
        socket_dir: str | os.PathLike | None = None,
    ) -> None:
        self.upstream = _engine_url(upstream or os.environ.get("DOCKER_HOST") or "")
        self.ledger = ledger if ledger is not None else Ledger()
        self.socket_path: Path | None = None
        self._socket_dir = socket_dir
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None

    @property
    def docker_host(self) -> str:
        """The DOCKER_HOST value that sends a docker client through this proxy."""
        if self.socket_path is None:
            raise RuntimeError("the engine proxy is not started: use it as `with EngineProxy()`")
        return f"unix://{self.socket_path}"

    def __enter__(self) -> EngineProxy:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> EngineProxy:
        """Listen on a new socket; returns once clients can connect."""
        if self._thread is not None:
            return self
        directory = Path(tempfile.mkdtemp(prefix="docs-harness-", dir=self._socket_dir))
        self.socket_path = directory / "docker.sock"

        ready = threading.Event()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(ready),), name="docs-harness-proxy", daemon=True
        )
        self._thread.start()
        if not ready.wait(STARTUP_SECONDS) or self._failure is not None:
            failure = self._failure
            self.close()
            raise RuntimeError(f"the engine proxy did not start: {failure}") from failure
        log.debug("relaying %s to %s", self.docker_host, self.upstream)
        return self

    def close(self) -> None:
        """Stop listening, end every relayed connection, and remove the socket."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=30)
        self._thread = self._loop = self._stopping = None
        if self.socket_path is not None:
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        engine = Engine(self.upstream)
        attribution = Attribution(self.ledger, engine)
        workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docs-harness-engine")
        connections: set[asyncio.Task] = set()

        async def relay(client_reader, client_writer):
            connections.add(asyncio.current_task())
            try:
                await self._relay(client_reader, client_writer, attribution, workers)
            except asyncio.CancelledError:
                # The proxy is closing. Ending quietly spares asyncio (3.11)
                # from logging each cancelled connection as an error.
                pass
            finally:
                connections.discard(asyncio.current_task())

        try:
            server = await asyncio.start_unix_server(relay, path=str(self.socket_path))
        except OSError as error:
            self._failure = error
            ready.set()
            return

        ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await server.wait_closed()
            workers.shutdown(wait=True)
            engine.close()

    async def _relay(self, client_reader, client_writer, attribution, workers) -> None:
        try:
            engine_side = await _connect(self.upstream)
        except OSError as error:
            log.warning("cannot reach the Docker engine at %s: %s", self.upstream, error)
            client_writer.close()
            return
        connection = _Connection((client_reader, client_writer), engine_side, attribution, workers)
        await connection.run()


class _Connection:
    """One client connection relayed to one engine connection, read as HTTP until a switch."""

    def __init__(self, client, engine_side, attribution: Attribution, workers) -> None:
        self._client_reader, self._client_writer = client
        self._engine_reader, self._engine_writer = engine_side
        self._attribution = attribution
        self._workers = workers

        # Each direction is parsed by its own h11 connection, and told of the
        # other direction's events, as a server and a client would be.
        self._requests = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._responses = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self._from_client = bytearray()  # read, not yet parsed, not yet sent on
        self._from_engine = bytearray()
        self._to_client = bytearray()  # parsed, held until the response's end is recorded
        self._exchanges: deque[_Exchange] = deque()
        self._raw = False
        self._turn = asyncio.Event()

    async def run(self) -> None:
        tasks = {
            asyncio.create_task(self._guarded(self._relay_requests(), "client")),
            asyncio.create_task(self._guarded(self._relay_responses(), "engine")),
        }
        try:
            # A direction that ended at its EOF, half-closing the other side,
            # leaves the other direction to finish; any other end ends both.
            while tasks:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                if any(task.result() != "half-closed" for task in done):
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for exchange in self._exchanges:
                await exchange.end(self._in_thread)
            for writer in (self._client_writer, self._engine_writer):
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _guarded(self, relay, side: str) -> str:
        try:
            return await relay
        except (h11.ProtocolError, ConnectionError, OSError) as error:
            log.debug("connection closed on a problem from the %s: %r", side, error)
        except Exception:
            log.warning("relaying from the %s failed; connection closed", side, exc_info=True)
        return "closed"

    async def _relay_requests(self) -> str:
        while not self._raw:
            event = self._requests.next_event()
            if event is h11.NEED_DATA:
                data = await self._client_reader.read(CHUNK)
                self._from_client += data
                if not self._raw:
                    self._requests.receive_data(data)
                continue
            if event is h11.PAUSED:
                if not self._raw:
                    await self._next_turn()
                continue

            chunk = _take(self._from_client, self._requests)
            if isinstance(event, h11.ConnectionClosed):
                if not self._exchanges:
                    return "closed"
                # The client has said all it will, and waits for the answer.
                self._engine_writer.write_eof()
                return "half-closed"
            if isinstance(event, h11.Request):
                call = ApiCall.parse(event.method, event.target)
                verdict = await self._admit(call)
                if isinstance(verdict, Refusal):
                    await self._refuse(call, verdict)
                    return "closed"
                if verdict is not None and verdict.target is not None:
                    event = h11.Request(
                        method=event.method,
                        target=verdict.target,
                        headers=event.headers.raw_items(),
                        http_version=event.http_version,
                    )
                    chunk = self._responses.send(event)
                    log.debug("%s sent on as %s", call, verdict.target)
                else:
                    self._responses.send(event)
                self._exchanges.append(_Exchange(call, verdict, self._attribution.ledger))
            else:
                self._responses.send(event)

            self._engine_writer.write(chunk)
            await self._engine_writer.drain()
            self._next_cycle_if_done()

        await _send(self._engine_writer, self._from_client)
        await _pipe(self._client_reader, self._engine_writer)
        return "half-closed"

    async def _relay_responses(self) -> str:
        while not self._raw:
            event = self._responses.next_event()
            if event is h11.NEED_DATA:
                await _send(self._client_writer, self._to_client)
                data = await self._engine_reader.read(CHUNK)
                self._from_engine += data
                self._responses.receive_data(data)
                continue
            if event is h11.PAUSED:
                if self._responses.their_state is h11.SWITCHED_PROTOCOL:
                    self._go_raw()
                else:
                    await self._next_turn()
                continue

            self._to_client += _take(self._from_engine, self._responses)
            if isinstance(event, h11.ConnectionClosed):
                await _send(self._client_writer, self._to_client)
                return "closed"

            exchange = self._exchanges[0]
            self._requests.send(event)
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    log.debug("%s -> 101, piped from here on", exchange.call)
                    self._go_raw()
            elif isinstance(event, h11.Response):
                exchange.status = event.status_code
                log.debug("%s -> %s", exchange.call, event.status_code)
                if _raw_stream(event):
                    self._go_raw()
            elif isinstance(event, h11.Data):
                if exchange.feed(event.data):
                    # The CLI exits as soon as it reads an error, without
                    # waiting for the end: record what was made before it can.
                    await exchange.end(self._in_thread)
            elif isinstance(event, h11.EndOfMessage):
                await exchange.end(self._in_thread)
                self._exchanges.popleft()
                await _send(self._client_writer, self._to_client)
                if h11.MUST_CLOSE in (self._responses.their_state, self._requests.our_state):
                    return "closed"
                if self._requests.their_state is h11.CLOSED:
                    return "closed"
                self._next_cycle_if_done()

        self._to_client += self._from_engine
        self._from_engine.clear()
        await _send(self._client_writer, self._to_client)
        await _pipe(self._engine_reader, self._client_writer)
        return "half-closed"

    async def _admit(self, call: ApiCall) -> Refusal | Outcome | None:
        if not self._attribution.concerns(call):
            return None
        return await self._in_thread(self._attribution.admit, call)

    async def _refuse(self, call: ApiCall, refusal: Refusal) -> None:
        log.info("refused %s: %s", call, refusal.message)
        body = json.dumps({"message": refusal.message}).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        answer = self._requests.send(h11.Response(status_code=refusal.status, headers=headers))
        answer += self._requests.send(h11.Data(data=body))
        answer += self._requests.send(h11.EndOfMessage())
        await _send(self._client_writer, bytearray(answer))

        # Read what is left of the request (a body, say), so that the client
        # reads the answer rather than a broken pipe.
        with contextlib.suppress(TimeoutError, h11.ProtocolError, ConnectionError):
            async with asyncio.timeout(5):
                while self._requests.their_state is h11.SEND_BODY:
                    if self._requests.next_event() is h11.NEED_DATA:
                        self._requests.receive_data(await self._client_reader.read(CHUNK))

    def _go_raw(self) -> None:
        self._raw = True
        self._wake()

    async def _next_turn(self) -> None:
        await self._turn.wait()

    def _wake(self) -> None:
        self._turn.set()
        self._turn = asyncio.Event()

    def _next_cycle_if_done(self) -> None:
        done = (h11.DONE, h11.DONE)
        if (self._requests.our_state, self._requests.their_state) == done and (
            self._responses.our_state,
            self._responses.their_state,
        ) == done:
            self._requests.start_next_cycle()
            self._responses.start_next_cycle()
            self._wake()

    def _in_thread(self, function, *args):
        return asyncio.get_running_loop().run_in_executor(self._workers, function, *args)


class _Exchange:
    """One request on its way through, with what is to be recorded when its response ends."""

    def __init__(self, call: ApiCall, outcome: Outcome | None, ledger: Ledger) -> None:
        self.call = call
        self.status = 0
        self._outcome = outcome
        self._ledger = ledger
        if outcome is not None:
            ledger.recording_started()

    def feed(self, data: bytes) -> bool:
        return self._outcome is not None and self._outcome.feed(data)

    async def end(self, in_thread) -> None:
        outcome, self._outcome = self._outcome, None
        if outcome is None:
            return
        try:
            await in_thread(outcome.finish, self.status)
        except Exception:
            log.warning("could not record what %s made", self.call, exc_info=True)
        finally:
            self._ledger.recording_finished()


def _engine_url(address: str) -> str:
    if not address:
        return "unix:///var/run/docker.sock"
    if address.startswith("/"):
        return f"unix://{address}"
    if address.startswith(("unix://", "tcp://")):
        return address
    raise ValueError(
        f"the docs harness cannot relay to the Docker engine at {address}: "
        "give a unix socket (unix:///var/run/docker.sock) or a plain tcp://HOST:PORT"
    )


async def _connect(url: str):
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return await asyncio.open_unix_connection(parts.path)
    return await asyncio.open_connection(parts.hostname, parts.port or 2375)


def _take(buffer: bytearray, connection: h11.Connection) -> bytes:
    """Remove from `buffer`, and return, the bytes `connection` has parsed since last time."""
    parsed = len(buffer) - len(connection.trailing_data[0])
    chunk = bytes(buffer[:parsed])
    del buffer[:parsed]
    return chunk


async def _send(writer: asyncio.StreamWriter, buffer: bytearray) -> None:
    if buffer:
        writer.write(bytes(buffer))
        buffer.clear()
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
    # Half-close, as `docker run -i` does when its stdin ends.
    if writer.can_write_eof():
        writer.write_eof()


def _raw_stream(response: h11.Response) -> bool:
    """Whether this is an attach or exec answered without Upgrade: raw bytes until EOF."""
    headers = dict(response.headers)
    framed = b"content-length" in headers or b"chunked" in headers.get(b"transfer-encoding", b"")
    return headers.get(b"content-type") in RAW_STREAMS and not framed
