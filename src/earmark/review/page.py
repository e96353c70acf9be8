"""The review page: an audit's flagged items as cards in one static HTML page.

:func:`build_review` writes, into the output folder::

    index.html      the page; every datum is in one <script type="application/json"> element
    review.js       builds the cards from that data (DOM nodes and textContent only)
    review.css      its looks (and favicon.svg its icon)
    review.json     the same data, for the local server (``earmark review --serve``)
    media/          per clip: a short audio snippet (c0001.ogg) and its spectrogram (c0001.png)

The page works when opened from disk: decisions are kept in the browser's localStorage and
exported as a label-edits file (:mod:`earmark.data.edits`) through a download link. Served by
:mod:`earmark.review.server`, it also writes every decision straight into the edits file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import logging
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from earmark.audit.table import AuditItem, read_audit
from earmark.data.edits import read_edits
from earmark.data.labels import Labels
from earmark.data.manifest import read_manifest_csv
from earmark.data.table import read_labels
from earmark.features.audio import AudioError
from earmark.features.store import FeatureStore
from earmark.io import write_bytes_atomic, write_text_atomic
from earmark.plots import PlotsUnavailable
from earmark.review.decisions import card_edits
from earmark.review.errors import ReviewError
from earmark.review.media import AudioFormat, resolve_audio_path, spectrogram_png, write_snippet

__all__ = ["ReviewPage", "build_review", "embed_json"]

logger = logging.getLogger(__name__)

_ASSETS = ("review.js", "review.css", "favicon.svg")
_MEDIA_NAME = re.compile(r"^c\d{4,}\.(ogg|wav|png)$")
_MEDIA_KEYS = ("audio", "spectrogram")  # a clip's entries that name a file in media/


@dataclasses.dataclass(frozen=True)
class ReviewPage:
    """What :func:`build_review` wrote.

    Attributes
    ----------
    directory : the output folder.
    html : its ``index.html``.
    num_items : cards on the page.
    num_clips : distinct clips among them.
    notes : problems met (audit rows naming clips the prepared data lacks, audio not found…).

    """

    directory: Path
    html: Path
    num_items: int
    num_clips: int
    notes: tuple[str, ...]


def embed_json(data: Any) -> str:
    """``data`` as JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` are written as JSON escapes (``<`` as backslash-u003c…), so no text
    in the data (a class name holding ``</script>``, say) can end the element or open a comment;
    JSON.parse reads them back.
    """
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _Prepared:
    """Labels, audio paths and feature stores of a prepared directory, opened lazily."""

    def __init__(self, directory: Path) -> None:
        if not (directory / "labels.csv").is_file() or not (directory / "manifest.csv").is_file():
            raise ReviewError(
                f"{directory} is not a prepared directory (no labels.csv or manifest.csv); "
                "give --store the folder `earmark prepare --out` wrote"
            )
        self.directory = directory
        self.labels: Labels = read_labels(directory / "labels.csv")
        self.paths = read_manifest_csv(directory / "manifest.csv")
        self.row = {clip: i for i, clip in enumerate(self.labels.clip_ids.tolist())}
        self._stores: dict[str, FeatureStore] = {}

    def frames(self, clip: str) -> tuple[np.ndarray, float] | None:
        """The clip's stored frames and the store's frames per second (None when absent)."""
        split = self.paths.get(clip, ("", ""))[0]
        directory = self.directory / "features" / split
        if not split or not (directory / "store.json").exists():
            return None
        if split not in self._stores:
            self._stores[split] = FeatureStore(directory)
        store = self._stores[split]
        if clip not in store:
            return None
        return np.asarray(store[clip], dtype=np.float32), float(store.meta.get("frames_per_second") or 0.0)

    def frequency_range(self) -> list[float] | None:
        """``[low, high]`` Hz of a log-mel store's bins, when there is one."""
        for split in dict.fromkeys(s for s, _ in self.paths.values()):
            meta = self.directory / "features" / split / "store.json"
            if meta.exists():
                frontend = json.loads(meta.read_text(encoding="utf-8")).get("frontend", {})
                if frontend.get("name") == "logmel":
                    rate = float(frontend.get("sample_rate", 16000))
                    high = frontend.get("fmax_hz") or rate / 2.0
                    return [float(frontend.get("fmin_hz", 0.0)), float(high)]
                return None
        return None


def build_review(
    audit: str | Path | Sequence[AuditItem],
    prepared: str | Path,
    out: str | Path,
    *,
    audio_root: str | Path | None = None,
    limit: int | None = None,
    edits_path: str | Path | None = None,
    who: str = "",
    title: str | None = None,
    max_seconds: float = 10.0,
    audio_format: AudioFormat = "ogg",
) -> ReviewPage:
    """Write the review page of an audit into ``out``.

    Parameters
    ----------
    audit
        An audit CSV (see :mod:`earmark.audit.table`) or its items.
    prepared
        The prepared directory the audit is about (``earmark prepare --out``).
    out
        The folder to write the page into (created; earlier media in it are replaced).
    audio_root
        Where relative audio paths of the manifest are, and where moved absolute ones are
        looked for.
    limit
        At most this many cards, the most suspicious.
    edits_path
        The label-edits file decisions go to; its earlier edits of a card's clip are shown.
    who
        The reviewer's name the page starts with.
    title
        The page title (default from the audit file name).
    max_seconds
        Longest audio snippet and spectrogram, seconds from the clip's start.
    audio_format
        ``"ogg"`` (Vorbis, small) or ``"wav"`` (16-bit PCM).

    Returns
    -------
    ReviewPage

    """
    out = Path(out)
    if isinstance(audit, str | Path):
        source: Path | None = Path(audit)
        items = read_audit(audit)
    else:
        source, items = None, list(audit)
    data_dir = _Prepared(Path(prepared))
    notes: list[str] = []
    items = _known_items(items, data_dir, source, notes)
    if limit is not None:
        items = items[: max(0, limit)]
    root = Path(audio_root).expanduser().resolve() if audio_root is not None else None
    media = out / "media"
    media.mkdir(parents=True, exist_ok=True)
    # an earlier page's media go only once this page is written (a failed rebuild keeps them)
    earlier_media = {path for path in media.iterdir() if _MEDIA_NAME.match(path.name)}
    clips: dict[str, dict[str, Any]] = {}
    for item in items:
        if item.clip not in clips:
            stem = f"c{len(clips) + 1:04d}"
            clips[item.clip] = _clip_media(
                item.clip, stem, data_dir, root, media, max_seconds, audio_format, notes
            )
    earlier = _earlier_edits(Path(edits_path) if edits_path else None, set(clips))
    data = {
        "version": 1,
        "reviewId": hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16],
        "title": title or (f"Review of {source.name}" if source else "Label review"),
        "who": who,
        "editsName": Path(edits_path).name if edits_path else "label-edits.csv",
        "classes": list(data_dir.labels.class_names),
        "frequencyHz": data_dir.frequency_range(),
        "clips": {clip: {**info, "earlier": earlier.get(clip, [])} for clip, info in clips.items()},
        "items": [_item_data(item, clips[item.clip]["positive"]) for item in items],
        "notes": notes,
    }
    _write_files(out, data)
    used = {
        media / Path(info[kind]).name for info in clips.values() for kind in _MEDIA_KEYS if info.get(kind)
    }
    for stale in earlier_media - used:
        stale.unlink(missing_ok=True)
    for note in notes:
        logger.warning(note)
    return ReviewPage(out, out / "index.html", len(items), len(clips), tuple(notes))


def _known_items(
    items: list[AuditItem], data_dir: _Prepared, source: Path | None, notes: list[str]
) -> list[AuditItem]:
    """Items whose clip is in the prepared data; an unknown class raises (wrong store)."""
    where = f"{source}, " if source else ""
    vocabulary = set(data_dir.labels.class_names)
    kept = []
    for item in items:
        if item.class_name and item.class_name not in vocabulary:
            raise ReviewError(
                f"{where}line {item.line}: class {item.class_name!r} is not in the vocabulary of "
                f"{data_dir.directory} ({len(vocabulary)} classes); is --store the data the audit is about?"
            )
        if item.clip in data_dir.row:
            kept.append(item)
    dropped = len(items) - len(kept)
    if dropped:
        first = next(item for item in items if item.clip not in data_dir.row)
        if not kept:
            raise ReviewError(
                f"{where}line {first.line}: clip {first.clip!r} is not in the labels of "
                f"{data_dir.directory}, nor is any other clip of the audit; is --store the data the audit "
                "is about?"
            )
        notes.append(
            f"{dropped} audit rows name clips that are not in the prepared data (blacklisted since?), "
            f"e.g. {first.clip!r} ({where}line {first.line}); they are left out"
        )
    return kept


def _clip_media(
    clip: str,
    stem: str,
    data_dir: _Prepared,
    root: Path | None,
    media: Path,
    max_seconds: float,
    audio_format: AudioFormat,
    notes: list[str],
) -> dict[str, Any]:
    """Write the clip's snippet and spectrogram; the clip's data for the page."""
    labels = data_dir.labels
    row = data_dir.row[clip]
    manifest_path = data_dir.paths.get(clip, ("", ""))[1]
    info: dict[str, Any] = {
        "positive": [n for n, p in zip(labels.class_names, labels.positive[row], strict=True) if p],
        "negative": int((labels.annotated[row] & ~labels.positive[row]).sum()),
        "missing": int((~labels.annotated[row]).sum()),
        "source": str(labels.source[row]),
        "fold": int(labels.fold[row]),
        "duration": _finite(labels.duration_seconds[row]),
        "path": _shown_path(manifest_path, root),
        "audio": None,
        "audioError": "",
        "seconds": None,
        "peakDbfs": None,
        "spectrogram": None,
    }
    audio = resolve_audio_path(manifest_path, root)
    if audio is None:
        info["audioError"] = "audio file not found" if manifest_path else "no audio (precomputed features)"
        if manifest_path:
            notes.append(f"clip {clip!r}: audio not found at {manifest_path} (nor under --audio-root)")
    else:
        try:
            snippet = write_snippet(
                audio, media / f"{stem}.{audio_format}", max_seconds=max_seconds, audio_format=audio_format
            )
            info.update(
                audio=f"media/{snippet.name}",
                seconds=round(snippet.seconds, 3),
                peakDbfs=_finite(snippet.peak_dbfs),
                duration=round(snippet.clip_seconds, 3),
            )
        except AudioError as error:
            info["audioError"] = error.reason
            notes.append(f"clip {clip!r}: {error}")
    stored = data_dir.frames(clip)
    if stored is not None:
        frames, fps = stored
        seconds = info["seconds"] or (len(frames) / fps if fps else None) or max_seconds
        if fps:
            frames = frames[: max(1, round(min(seconds, max_seconds) * fps))]
        try:
            write_bytes_atomic(media / f"{stem}.png", spectrogram_png(frames))
            info["spectrogram"] = f"media/{stem}.png"
            if info["seconds"] is None and fps:
                info["seconds"] = round(len(frames) / fps, 3)
        except PlotsUnavailable as error:
            if str(error) not in notes:
                notes.append(str(error))
    return info


def _shown_path(path: str, root: Path | None) -> str:
    if root is not None and path:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            pass
    return path


def _finite(value: float) -> float | None:
    return round(float(value), 3) if np.isfinite(value) else None


def _item_data(item: AuditItem, positive: Sequence[str]) -> dict[str, Any]:
    """A card's data; ``edits``: what each decision writes (:func:`.decisions.card_edits`)."""
    return {
        "key": f"{item.suggestion}\u241f{item.clip}\u241f{item.class_name}",
        "rank": item.rank,
        "clip": item.clip,
        "class": item.class_name,
        "suggestion": item.suggestion,
        "score": item.score,
        "classRank": item.class_rank,
        "modelScore": item.model_score,
        "top": [[name, score] for name, score in item.top_scores],
        "edits": card_edits(item, positive),
    }


def _earlier_edits(path: Path | None, clips: set[str]) -> dict[str, list[dict[str, str]]]:
    if path is None or not path.is_file():
        return {}
    earlier: dict[str, list[dict[str, str]]] = {}
    for edit in read_edits(path):
        if edit.clip in clips:
            earlier.setdefault(edit.clip, []).append(
                {"class": edit.class_name, "action": edit.action, "who": edit.who, "why": edit.why}
            )
    return earlier


def _write_files(out: Path, data: dict[str, Any]) -> None:
    template = resources.files("earmark.review").joinpath("static", "index.html").read_text("utf-8")
    fills = {"__TITLE__": html.escape(str(data["title"])), "__DATA__": embed_json(data)}
    page = re.sub("__TITLE__|__DATA__", lambda match: fills[match.group(0)], template)
    for name in _ASSETS:
        content = resources.files("earmark.review").joinpath("static", name).read_bytes()
        write_bytes_atomic(out / name, content)
    write_text_atomic(out / "review.json", json.dumps(data, indent=1, allow_nan=False), newline="")
    write_text_atomic(out / "index.html", page, newline="")
