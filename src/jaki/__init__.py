"""jaki: continue a one-bar drum pattern with an LSTM, then tune it toward feature targets with Double DQN."""

from jaki.errors import JakiInputError

__all__ = ["CATEGORY_LABELS", "PARTS", "STEPS_PER_BAR", "JakiInputError", "Pattern"]
__version__ = "0.1.0"
_FROM_PATTERN = ("CATEGORY_LABELS", "PARTS", "STEPS_PER_BAR", "Pattern")


def __getattr__(name: str) -> object:
    """The pattern names, imported on first use (PEP 562): every command imports ``jaki.errors``, and 'jaki --help'
    must not wait for NumPy."""
    if name in _FROM_PATTERN:
        from jaki import pattern

        return getattr(pattern, name)
    raise AttributeError(f"module 'jaki' has no attribute {name!r}")
