"""How a continuation model plays a bar 2 by default: a small value type without torch, so that commands which only
describe or check it (``jaki generate``'s options, the studio) need not load the model's libraries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decoding:
    """How a model plays a bar 2 by default: sampled at ``temperature`` from the nucleus holding ``top_p`` of the
    probability; temperature 0 is the most likely bar, step by step. Chosen per model on held-out pairs and stored
    with it, since how sure a model is differs from one model to the next."""

    temperature: float = 1.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, int | float) and 0 <= self.temperature <= 10):
            raise ValueError(f"temperature must lie in 0..10, got {self.temperature!r}")
        if not (isinstance(self.top_p, int | float) and 0 < self.top_p <= 1):
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def describe(self) -> str:
        if self.greedy:
            return "most likely bar"
        return f"sampled at T = {self.temperature:g}" + (f", top-p {self.top_p:g}" if self.top_p < 1 else "")


MOST_LIKELY = Decoding(temperature=0.0)
