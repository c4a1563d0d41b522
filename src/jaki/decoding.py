"""How a continuation model plays a bar 2 by default: a small value type without torch, so that commands which only
describe or check it (``jaki generate``'s options, the studio) need not load the model's libraries."""

from __future__ import annotations

from dataclasses import dataclass

KEPT_PARTS: tuple[str, ...] = ("kick", "snare", "closed")  # the parts the keep_share rule holds to their count


@dataclass(frozen=True)
class Decoding:
    """How a model plays a bar 2 by default: sampled at ``temperature`` from the nucleus holding ``top_p`` of the
    probability; temperature 0 is the most likely bar, step by step. Chosen per model on held-out pairs and stored
    with it, since how sure a model is differs from one model to the next.

    ``keep_share``: a sampled bar 2 must keep at least this share of the bar-1 hit count of each part of the
    groove's backbone, ``KEPT_PARTS`` (0 = no rule); crashes and toms come and go. Programmed second bars do (94 %
    of the development pairs keep half of each; GMD's performances 81 %), but a model that learned from
    performances strips an unusual seed's defining part — a one-drop's lone kick, a double kick's sixteenths — as
    if a drummer had dropped it. Up to ``draws`` bars are sampled at once; the first that keeps its parts is
    played, else the one whose worst part keeps the most. A fill bar is played without the rule (``jaki.generate``):
    a fill replaces the groove.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    keep_share: float = 0.0
    draws: int = 8

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, int | float) and 0 <= self.temperature <= 10):
            raise ValueError(f"temperature must lie in 0..10, got {self.temperature!r}")
        if not (isinstance(self.top_p, int | float) and 0 < self.top_p <= 1):
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p!r}")
        if not (isinstance(self.keep_share, int | float) and 0 <= self.keep_share <= 1):
            raise ValueError(f"keep_share must lie in 0..1, got {self.keep_share!r}")
        if not (isinstance(self.draws, int) and 1 <= self.draws <= 64):
            raise ValueError(f"draws must be a whole number in 1..64, got {self.draws!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def describe(self) -> str:
        if self.greedy:
            return "most likely bar"
        text = f"sampled at T = {self.temperature:g}" + (f", top-p {self.top_p:g}" if self.top_p < 1 else "")
        return text + (f", each part keeping ≥ {self.keep_share:.0%} of its hits" if self.keep_share > 0 else "")


MOST_LIKELY = Decoding(temperature=0.0)
