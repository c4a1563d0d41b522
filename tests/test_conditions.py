"""The continuation model's conditions: codes, the programmed copies, fill pairs, and what counts as performed."""

from __future__ import annotations

import numpy as np
import pytest

from jaki.conditions import (
    CONDITIONS,
    ExampleConfig,
    codes_for,
    is_performed,
    programmed_conditions,
    remove_ghost_notes,
    split_conditions,
    training_examples,
)
from jaki.dataset import LoopDataset
from jaki.pattern import PARTS, Pattern, hits_to_categories

SNARE = PARTS.index("snare")


def loops(kinds: list[str], folders: list[str], bar_index: list[int]) -> LoopDataset:
    """One loop per entry: bar 1 = kick on every beat + a soft snare ghost on step 3; bar 2 marks its loop number
    in the toms row (loop i: a tom on step i), so that each bar can be traced back to where it came from."""
    n = len(kinds)
    hits = np.zeros((n, 32, 5), dtype=bool)
    velocities = np.zeros((n, 32, 5), dtype=np.float32)
    hits[:, 0:16:4, 0] = True
    hits[:, 2, SNARE] = True
    velocities[hits] = 0.8
    velocities[:, 2, SNARE] = 0.3  # a ghost note
    for i in range(n):
        hits[i, 16 + i, 4] = True
        velocities[i, 16 + i, 4] = 0.9
    text = np.full(n, "")
    return LoopDataset(
        hits=hits,
        velocities=velocities,
        offsets_ms=np.where(hits, 5.0, np.nan).astype(np.float32),
        source=np.array([f"{folder}/{i}.mid" for i, folder in enumerate(folders)]),
        groove=text,
        bar_index=np.array(bar_index, dtype=np.int64),
        tempo=np.full(n, 100.0),
        style=np.full(n, "funk"),
        drummer=text,
        kind=np.array(kinds),
        split=np.full(n, "train"),
    )


def test_codes_follow_the_model_order_and_a_fill_is_the_phrase_end() -> None:
    assert codes_for(CONDITIONS).tolist() == [0, 0, 1]  # the plain case: performed, no fill, bar 2 of the phrase
    assert codes_for(("position", "programmed"), programmed=1, position=6).tolist() == [2, 1]
    assert codes_for(CONDITIONS, fill=1, position=1).tolist() == [0, 1, 3]
    codes = programmed_conditions(2)
    assert {name: values.tolist() for name, values in codes.items()} == {
        "programmed": [1, 1],
        "fill": [0, 0],
        "position": [1, 1],
    }


def test_remove_ghost_notes_drops_only_soft_snare_hits() -> None:
    dataset = loops(["beat"], ["s1"], [0])
    clean = remove_ghost_notes(dataset.hits, dataset.velocities, 0.45)
    assert dataset.hits[0, 2, SNARE] and not clean[0, 2, SNARE]
    assert (clean != dataset.hits).sum() == 1  # kicks and toms untouched


def test_training_examples_add_programmed_copies_and_fill_pairs() -> None:
    dataset = loops(["beat", "beat", "fill", "beat"], ["s1", "s1", "s1", "s2"], [0, 2, 0, 5])
    assert {k: v.tolist() for k, v in split_conditions(dataset, "train").items()} == {
        "programmed": [0, 0, 0, 0],
        "fill": [0, 0, 1, 0],
        "position": [1, 3, 3, 2],
    }
    examples = training_examples(dataset, "train", CONDITIONS, ExampleConfig(fill_partners=4))
    # 4 as played + 4 programmed copies + the fill bar paired with the 2 beat loops of its session (s1), not s2's.
    assert len(examples) == 10
    assert examples.codes[:4].tolist() == [[0, 0, 1], [0, 0, 3], [0, 1, 3], [0, 0, 2]]
    assert examples.codes[4:8, 0].tolist() == [1, 1, 1, 1]
    assert examples.codes[8:].tolist() == [[0, 1, 3], [0, 1, 3]]
    categories = hits_to_categories(dataset.hits)
    fill_bar2 = categories[2, 16:]
    partner_bars = {tuple(categories[i, 16:]) for i in (0, 1)}
    assert all((examples.bar2[i] == fill_bar2).all() for i in (8, 9))
    assert {tuple(examples.bar1[i]) for i in (8, 9)} == partner_bars
    # The programmed copies lost the ghost note of bar 1.
    assert not (examples.bar1[4] == examples.bar1[0]).all()
    unconditioned = training_examples(dataset, "train", ())
    assert len(unconditioned) == 4 and unconditioned.codes.shape == (4, 0)


def test_a_bar_is_performed_when_its_hits_sit_off_the_grid(pattern_a) -> None:
    assert not is_performed(pattern_a)  # a grid: no timing of its own
    quantised = Pattern(pattern_a.hits, None, np.where(pattern_a.hits, 0.0, np.nan))
    played = Pattern(pattern_a.hits, None, np.where(pattern_a.hits, 12.0, np.nan))
    assert not is_performed(quantised) and is_performed(played)


@pytest.mark.parametrize("names", [("fill",), ("programmed", "position")])
def test_training_examples_codes_have_one_column_per_condition(names) -> None:
    dataset = loops(["beat", "fill"], ["s1", "s1"], [0, 0])
    assert training_examples(dataset, "train", names).codes.shape[1] == len(names)
