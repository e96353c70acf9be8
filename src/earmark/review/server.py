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

Every reply to ``/api/...`` is JSON; a refusal is ``{"error": reason}``: 413 for a body over
:data:`MAX_BODY_BYTES`, 400 for a body that is not JSON, nests deeper than
:data:`MAX_JSON_DEPTH`, has the wrong shape, or holds a field longer than
:data:`~earmark.data.edits.MAX_FIELD_CHARS`. Nothing a request holds stops the server: an
unexpected failure of a handler is logged and answered with 500, and the next request is
served as usual.
"""

from __future__ import annotations

import contextlib
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

__all__ = ["HOST", "MAX_BODY_BYTES", "MAX_JSON_DEPTH", "ReviewServer", "serve_review"]

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY_BYTES = 1 << 20
"""The largest decision body taken, in bytes (a decision is a few edits: far below this)."""
MAX_JSON_DEPTH = 8
"""The deepest nesting of arrays and objects a decision body may have (a decision needs 3)."""
_DRAIN_BYTES = 16 * MAX_BODY_BYTES  # read (and drop) at most this much of a refused body
_TIMEOUT_SECONDS = 60.0  # a client that stops sending mid-request is dropped after this
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
_REVIEW_ACTIONS = ("add", "remove", "blacklist")  # the edits a review decision writes
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
        if _depth(body) > MAX_JSON_DEPTH:
            raise ReviewError(f"the decision nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects")
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
            if edit.action not in _REVIEW_ACTIONS:
                raise ReviewError(
                    f"a review decision adds, removes or blacklists; {edit.action!r} is not one of "
                    f"{', '.join(_REVIEW_ACTIONS)}"
                )
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


def _depth(value: Any) -> int:
    """How deeply lists and dicts nest in ``value`` (0 for a scalar); not recursive."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            break
        pending.extend((child, level + 1) for child in children)
    return deepest


def _parse_json(body: bytes) -> Any:
    """``body`` as JSON; :class:`ReviewError` naming what is wrong."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ReviewError(
            f"the decision nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects"
        ) from None
    except UnicodeDecodeError as error:
        raise ReviewError(f"the decision is not UTF-8 text ({error.reason})") from None
    except ValueError as error:
        raise ReviewError(f"the decision is not JSON: {error}") from None


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "earmark-review"
    sys_version = ""
    timeout = _TIMEOUT_SECONDS
    _replied = False

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    # ------------------------------------------------------------------ replies
    def _headers(self, status: HTTPStatus, content_type: str, length: int, extra: dict[str, str]) -> None:
        self._replied = True
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

    def _guarded(self, handle: Callable[[], None]) -> None:
        """Run ``handle``; an unexpected failure is logged and answered with 500, never a dropped reply."""
        self._replied = False
        try:
            handle()
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("%s went away during %s %s", self.address_string(), self.command, self.path[:200])
            self.close_connection = True
        except Exception as error:
            logger.exception("review server: %s %s failed", self.command, self.path[:200])
            self.close_connection = True
            if self._replied:  # part of a reply is out already: the closed connection tells the rest
                return
            reason = f"the review server failed ({type(error).__name__}: {error}); its log has the details"
            with contextlib.suppress(OSError):
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": reason})

    # ------------------------------------------------------------------ methods
    def do_GET(self) -> None:
        """A file of the review folder, or the status."""
        self._guarded(self._get)

    def do_HEAD(self) -> None:
        """As GET, without the body."""
        self._guarded(self._get)

    def do_POST(self) -> None:
        """Record a decision."""
        self._guarded(self._post)

    def _get(self) -> None:
        if not self._host_ok():
            return self._refuse(HTTPStatus.FORBIDDEN)
        if self.path.split("?", 1)[0] == "/api/status":
            return self._status()
        try:
            target = self.server.resolve(self.path)
        except UnicodeDecodeError:
            target = HTTPStatus.BAD_REQUEST
        if isinstance(target, HTTPStatus):
            return self._refuse(target)
        self._send_file(target)

    def _status(self) -> None:
        path = self.server.edits_path
        try:
            count = len(read_edits(path)) if path.exists() else 0
        except (EditError, OSError) as error:
            return self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"cannot read the edits file: {error}"}
            )
        self._json(HTTPStatus.OK, {"served": True, "file": path.name, "count": count})

    def _post(self) -> None:
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
        if length <= 0:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "the decision is empty (Content-Length 0)"})
        if length > MAX_BODY_BYTES:
            return self._too_large(length)
        body = self.rfile.read(length)
        if len(body) < length:
            return self._json(
                HTTPStatus.BAD_REQUEST, {"error": f"the body ended after {len(body)} of {length} bytes"}
            )
        try:
            previous, edits = self.server.parse_decision(_parse_json(body))
        except ReviewError as error:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        try:
            count = self.server.record(previous, edits)
        except (EditError, OSError) as error:  # the file's fault, not the request's
            logger.error("review server: cannot save to %s: %s", self.server.edits_path, error)
            return self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"error": f"cannot save to {self.server.edits_path.name}: {error}"},
            )
        self._json(HTTPStatus.OK, {"ok": True, "file": self.server.edits_path.name, "count": count})

    def _too_large(self, length: int) -> None:
        """Refuse a body of ``length`` bytes with 413, then read (and drop) a bounded part of it.

        Reading it lets the client finish sending and read the reply instead of a reset connection.
        """
        self._json(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            {"error": f"the decision has {length:,} bytes, over MAX_BODY_BYTES = {MAX_BODY_BYTES:,}"},
        )
        self.close_connection = True
        left = min(length, _DRAIN_BYTES)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)

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
