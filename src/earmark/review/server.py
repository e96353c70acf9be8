"""A small local server for the review page: its files, and decisions into the edits file.

:class:`ReviewServer` listens on 127.0.0.1 only. It serves the files inside the review folder
and nothing else: a path with a ``..`` or ``.`` segment, an absolute path, a backslash or a NUL
(percent-encoded or not) is refused with 403, and a path that leads out of the folder through a
symlink, or to a hidden file, gets 404. It answers only requests whose ``Host`` is its own
address (a page from elsewhere cannot reach it by DNS rebinding), and takes decisions only as
JSON from its own origin.

``POST /api/decision`` with ``{"key": card key, "previous": [edit, ...], "edits": [edit, ...]}``
(an edit is ``{clip, class, action, who, why, time}``) records a card's decision: under a lock,
and atomically, the card's ``previous`` edits (those the page had written for it before, time
stamp included) are taken out of the edits file and the new ones appended; an empty ``edits``
withdraws a decision. Two quick decisions are serialised, so none is lost; edits the file held
before (earlier reviews, other tools) stay.
``GET /api/status`` tells the page that it is served, and where decisions go.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from earmark.data.edits import EditError, LabelEdit, read_edits, update_edits
from earmark.review.errors import ReviewError

__all__ = ["HOST", "ReviewServer", "serve_review"]

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY_BYTES = 1 << 20
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
        "connect-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class ReviewServer(ThreadingHTTPServer):
    """Serves a review folder on 127.0.0.1 and records decisions in a label-edits file.

    Parameters
    ----------
    directory
        The review folder written by :func:`~earmark.review.page.build_review`.
    edits_path
        The label-edits file decisions go to (created on the first decision).
    port
        The port; 0 picks a free one (see :attr:`url`).

    """

    daemon_threads = True

    def __init__(self, directory: str | Path, edits_path: str | Path, *, port: int = 8765) -> None:
        self.root = Path(directory).resolve()
        data_path = self.root / "review.json"
        if not data_path.is_file():
            raise ReviewError(f"{self.root} is not a review folder (no review.json); build it first")
        data = json.loads(data_path.read_text(encoding="utf-8"))
        self.classes = frozenset(data["classes"])
        self.clips = frozenset(data["clips"])
        self.edits_path = Path(edits_path)
        if self.edits_path.exists():
            read_edits(self.edits_path)  # a malformed file fails now, not at the first decision
        super().__init__((HOST, port), _Handler)

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{HOST}:{self.port}/"

    def record(self, previous: list[LabelEdit], edits: list[LabelEdit]) -> int:
        """Take ``previous`` (each once, the latest match) out of the edits file and append ``edits``.

        Under the file's lock and atomically; returns how many edits the file holds now.
        """

        def change(current: list[LabelEdit]) -> list[LabelEdit]:
            kept = list(current)
            for old in reversed(previous):
                for position in range(len(kept) - 1, -1, -1):
                    if kept[position] == old:
                        del kept[position]
                        break
            return [*kept, *edits]

        return len(update_edits(self.edits_path, change))

    def parse_decision(self, body: Any) -> tuple[list[LabelEdit], list[LabelEdit]]:
        """The previous and new edits of a decision request; :class:`ReviewError` when malformed."""
        if not isinstance(body, dict) or not isinstance(body.get("key"), str) or not body["key"]:
            raise ReviewError('a decision is {"key": card key, "previous": [...], "edits": [...]}')
        return self._edits(body.get("previous", []), "previous"), self._edits(body.get("edits"), "edits")

    def _edits(self, rows: Any, name: str) -> list[LabelEdit]:
        if not isinstance(rows, list) or len(rows) > len(self.classes) + 1:
            raise ReviewError(f"{name} must be a list of at most one edit per class")
        edits = []
        for row in rows:
            if not isinstance(row, dict) or not all(isinstance(v, str) for v in row.values()):
                raise ReviewError("every edit is an object of strings: clip, class, action, who, why, time")
            try:
                edit = LabelEdit(
                    clip=row.get("clip", ""),
                    class_name=row.get("class", ""),
                    action=row.get("action", ""),
                    who=row.get("who", ""),
                    why=row.get("why", ""),
                    time=row.get("time", ""),
                )
            except EditError as error:
                raise ReviewError(str(error)) from error
            if edit.clip not in self.clips:
                raise ReviewError(f"clip {edit.clip!r} is not on this review page")
            if edit.class_name and edit.class_name not in self.classes:
                raise ReviewError(f"class {edit.class_name!r} is not in the vocabulary")
            edits.append(edit)
        return edits

    def resolve(self, raw_path: str) -> Path | HTTPStatus:
        """The file a request path names inside the folder, or the status refusing it."""
        path = raw_path.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/"):
            return HTTPStatus.BAD_REQUEST
        relative = unquote(path, errors="strict")[1:] or "index.html"
        if "\x00" in relative or "\\" in relative or relative.startswith("/"):
            return HTTPStatus.FORBIDDEN
        parts = relative.split("/")
        if any(part in ("..", ".") for part in parts) or ":" in parts[0]:
            return HTTPStatus.FORBIDDEN
        if any(part.startswith(".") for part in parts if part):
            return HTTPStatus.NOT_FOUND
        try:
            target = (self.root / relative).resolve(strict=True)
        except (OSError, RuntimeError):
            return HTTPStatus.NOT_FOUND
        if not target.is_relative_to(self.root) or not target.is_file():
            return HTTPStatus.NOT_FOUND
        return target


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "earmark-review"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    # ------------------------------------------------------------------ replies
    def _headers(self, status: HTTPStatus, content_type: str, length: int, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in {**_SECURITY_HEADERS, **extra}.items():
            self.send_header(name, value)
        self.end_headers()

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode("utf-8")
        self._headers(status, "application/json", len(body), {})
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, status: HTTPStatus) -> None:
        self._json(status, {"error": status.phrase})

    def _host_ok(self) -> bool:
        host = self.headers.get("Host", "")
        return host in {f"{HOST}:{self.server.port}", f"localhost:{self.server.port}"}

    # ------------------------------------------------------------------ methods
    def do_GET(self) -> None:
        """A file of the review folder, or the status."""
        if not self._host_ok():
            return self._refuse(HTTPStatus.FORBIDDEN)
        if self.path.split("?", 1)[0] == "/api/status":
            count = len(read_edits(self.server.edits_path)) if self.server.edits_path.exists() else 0
            return self._json(
                HTTPStatus.OK, {"served": True, "file": self.server.edits_path.name, "count": count}
            )
        try:
            target = self.server.resolve(self.path)
        except UnicodeDecodeError:
            target = HTTPStatus.BAD_REQUEST
        if isinstance(target, HTTPStatus):
            return self._refuse(target)
        self._send_file(target)

    def do_HEAD(self) -> None:
        """As GET, without the body."""
        self.do_GET()

    def do_POST(self) -> None:
        """Record a decision."""
        if not self._host_ok():
            return self._refuse(HTTPStatus.FORBIDDEN)
        if self.path != "/api/decision":
            return self._refuse(HTTPStatus.NOT_FOUND)
        origin = self.headers.get("Origin")
        if origin is not None and origin not in {f"http://{self.headers.get('Host', '')}"}:
            return self._refuse(HTTPStatus.FORBIDDEN)
        if self.headers.get_content_type() != "application/json":
            return self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send application/json"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._refuse(HTTPStatus.LENGTH_REQUIRED)
        if not 0 < length <= MAX_BODY_BYTES:
            return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        try:
            previous, edits = self.server.parse_decision(json.loads(self.rfile.read(length)))
            count = self.server.record(previous, edits)
        except (ReviewError, ValueError) as error:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        self._json(HTTPStatus.OK, {"ok": True, "file": self.server.edits_path.name, "count": count})

    def _send_file(self, target: Path) -> None:
        size = target.stat().st_size
        content_type = _TYPES.get(target.suffix.lower()) or (
            mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        start, end = 0, size - 1
        status = HTTPStatus.OK
        extra = {"Accept-Ranges": "bytes"}
        requested = self.headers.get("Range")
        if requested and size:
            match = _RANGE.match(requested.strip())
            if match is None or match.groups() == ("", ""):
                return self._headers(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    content_type,
                    0,
                    {"Content-Range": f"bytes */{size}"},
                )
            first, last = match.groups()
            if first:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            else:
                start, end = max(0, size - int(last)), size - 1
            if start > end or start >= size:
                return self._headers(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    content_type,
                    0,
                    {"Content-Range": f"bytes */{size}"},
                )
            status = HTTPStatus.PARTIAL_CONTENT
            extra["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        self._headers(status, content_type, length, extra)
        if self.command == "HEAD" or not length:
            return
        with open(target, "rb") as handle:
            handle.seek(start)
            self.wfile.write(handle.read(length))


def serve_review(
    directory: str | Path,
    edits_path: str | Path,
    *,
    port: int = 8765,
    ready: Callable[[ReviewServer], None] | None = None,
) -> None:
    """Serve the review folder until interrupted (Ctrl-C); ``ready(server)`` is called once listening."""
    server = ReviewServer(directory, edits_path, port=port)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
