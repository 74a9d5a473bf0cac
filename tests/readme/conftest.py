"""The README's examples train with the same tiny configs as the trainer's own tests."""

from tests.trainer.conftest import make_config, tiny_csv

__all__ = ["make_config", "tiny_csv"]
