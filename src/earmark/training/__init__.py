"""The one training loop, its data pipeline, checkpoints and distributed helpers."""
