"""`python -m daphne`, with Bot API tokens taken out of what Daphne writes.

A parallel bot calls Baton's Bot API proxy at /telegram/proxy/<key>/bot<token>/<method>
(the token is in the path, as at Telegram), and Daphne writes every request line to its
access log on stdout. Here stdout and stderr replace any "/bot<id>:<secret>" with
"/bot<token>" before it is written."""

from __future__ import annotations

import re
import sys
from typing import TextIO

from daphne.cli import CommandLineInterface

BOT_TOKEN = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")


class RedactingStream:
    """A text stream that writes through to `stream` with bot tokens replaced."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(BOT_TOKEN.sub("/bot<token>", text))

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main() -> None:
    sys.stdout = RedactingStream(sys.stdout)
    sys.stderr = RedactingStream(sys.stderr)
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
