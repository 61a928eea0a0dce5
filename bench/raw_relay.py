"""The ceiling for bench/relay.py: a minimal websocket relay with no Django, no
channel layer and no database.

Sockets connecting to ws://127.0.0.1:<port>/<key> are paired by key, and every text
frame received on one of them is sent, unchanged, to every socket of its key (the
sender included, like a group chat room of two, so the sender's copy is its ack).

Usage: python bench/raw_relay.py --port N (listens on 127.0.0.1 only)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

rooms: dict[str, set[ServerConnection]] = {}


async def relay(ws: ServerConnection) -> None:
    key = ws.request.path
    room = rooms.setdefault(key, set())
    room.add(ws)
    try:
        async for frame in ws:
            for member in list(room):
                with contextlib.suppress(ConnectionClosed):
                    await member.send(frame)
    except ConnectionClosed:
        pass
    finally:
        room.discard(ws)
        if not room:
            rooms.pop(key, None)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(relay, "127.0.0.1", port, max_size=1 << 20, ping_interval=None):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
