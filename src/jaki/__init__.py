"""jaki: continue a one-bar drum pattern with an LSTM, then tune it toward feature targets with Double DQN."""

from jaki.errors import JakiInputError
from jaki.pattern import CATEGORY_LABELS, PARTS, STEPS_PER_BAR, Pattern

__all__ = ["CATEGORY_LABELS", "PARTS", "STEPS_PER_BAR", "JakiInputError", "Pattern"]
__version__ = "0.1.0"
