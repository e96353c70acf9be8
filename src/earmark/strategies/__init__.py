"""Strategies: how labels become a loss. Importing this package registers them all."""

from earmark.strategies import supervised
from earmark.strategies.base import STRATEGIES, Strategy, build_strategy, masked_bce, register_strategy

__all__ = ["STRATEGIES", "Strategy", "build_strategy", "masked_bce", "register_strategy", "supervised"]
