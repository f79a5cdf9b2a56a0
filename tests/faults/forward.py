"""A stand-in for the engine's socket that can be stopped: it relays one unix socket to another.

    python -m tests.faults.forward LISTEN TARGET

The fault matrix points the harness at LISTEN and has a page kill this
process. To the harness that is the engine stopping, while the real engine
at TARGET goes on serving everyone else.
"""

from __future__ import annotations

import asyncio
import sys

CHUNK = 64 * 1024


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until it ends, then pass the end on (a half-close, as HTTP uses)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except ConnectionError:
        writer.close()


async def serve(listen: str, target: str) -> None:
    async def relay(client_reader, client_writer):
        try:
            engine_reader, engine_writer = await asyncio.open_unix_connection(target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, engine_writer), pipe(engine_reader, client_writer))
        client_writer.close()
        engine_writer.close()

    server = await asyncio.start_unix_server(relay, path=listen)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
