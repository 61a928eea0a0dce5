"""A fake OpenAI-compatible chat-completions server on localhost, for tests.

    with FakeLanguageModel(answer="yes") as server:
        classifier = LanguageModelClassifier(url=server.url, model="m")
        ...
        server.requests[0].body["model"]

Modes: a fixed answer (`answer=`), an error status (`status=500`), a slow answer
(`delay_seconds=`), a body that is not JSON (`malformed=True`) or any JSON document
(`response_json=`, e.g. an unexpected shape).
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETIONS_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased: urllib sends "Content-type"
    body: Any  # parsed JSON, or None when the body is not JSON
    raw_body: bytes


def completion(answer: str, model: str = "fake-model") -> dict[str, Any]:
    """A minimal chat-completions response carrying `answer`."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
    }


class FakeLanguageModel:
    def __init__(
        self,
        *,
        answer: str = "no",
        status: int = 200,
        delay_seconds: float = 0.0,
        malformed: bool = False,
        response_json: Any = None,
    ) -> None:
        self.answer = answer
        self.status = status
        self.delay_seconds = delay_seconds
        self.malformed = malformed
        self.response_json = response_json
        self.requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake language model is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{COMPLETIONS_PATH}"

    def start(self) -> FakeLanguageModel:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # shutdown() waits up to one poll interval; the default 0.5 s adds up over a suite
            kwargs={"poll_interval": 0.05},
            name="fake-language-model",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        # wakes handlers sleeping in delay mode, so shutdown does not wait for them
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeLanguageModel:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def response(self) -> tuple[int, str, bytes]:
        """Status, content type and body for the configured mode."""
        if self.malformed:
            return self.status, "application/json", b"{not json at all"
        if self.status >= 300:
            error = {"error": {"message": "fake failure", "type": "server_error"}}
            return self.status, "application/json", json.dumps(error).encode()
        document = self.response_json if self.response_json is not None else completion(self.answer)
        return self.status, "application/json", json.dumps(document).encode()


def _handler_for(fake: FakeLanguageModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length)
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = None
            fake.requests.append(
                RecordedRequest(
                    method="POST",
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                    raw_body=raw_body,
                )
            )
            if fake.delay_seconds and fake._stopping.wait(fake.delay_seconds):
                return
            if self.path != COMPLETIONS_PATH:
                self._send(404, "application/json", b'{"error": {"message": "not found"}}')
                return
            self._send(*fake.response())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            # the client may have given up waiting (timeout tests)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler
