"""Data-set loaders, one module per layout; importing this package registers them all."""

from earmark.data.loaders import folder
from earmark.data.loaders.base import LOADERS, LoaderEntry, load_dataset, register_loader

__all__ = ["LOADERS", "LoaderEntry", "folder", "load_dataset", "register_loader"]
