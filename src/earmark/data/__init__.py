"""Labels, label tables, manifests and data-set loaders."""

from earmark.data.labels import SOURCES, LabelError, Labels, LabelSummary
from earmark.data.manifest import Manifest, PrecomputedFrames
from earmark.data.table import read_labels, write_labels

__all__ = [
    "SOURCES",
    "LabelError",
    "LabelSummary",
    "Labels",
    "Manifest",
    "PrecomputedFrames",
    "read_labels",
    "write_labels",
]
