import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaki.errors import JakiInputError
from jaki.pattern import CATEGORY_LABELS, CATEGORY_PARTS, N_CATEGORIES, REST, Pattern, category_index


def test_category_order_matches_features_md_table():
    assert len(CATEGORY_LABELS) == N_CATEGORIES == 32
    assert REST == 22
    assert CATEGORY_LABELS[:8] == ("c", "co", "cot", "ct", "k", "kc", "kco", "kcot")
    assert CATEGORY_LABELS[14] == "kscot" and CATEGORY_LABELS[26] == "scot" and CATEGORY_LABELS[31] == "t"


def test_part_membership_derived_from_labels_matches_features_md():
    kick = set(np.flatnonzero(CATEGORY_PARTS[:, 0]))
    toms = set(np.flatnonzero(CATEGORY_PARTS[:, 4]))
    cymbal = set(np.flatnonzero(CATEGORY_PARTS[:, 2] | CATEGORY_PARTS[:, 3]))
    assert kick == set(range(4, 20))
    assert toms == {2, 3, 7, 8, 10, 14, 15, 17, 18, 19, 21, 26, 27, 29, 30, 31}
    assert cymbal == {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 20, 21, 24, 25, 26, 27, 28, 29}


def test_worked_examples_encode_to_the_documented_categories(pattern_a, pattern_b):
    assert pattern_a.categories().tolist() == [5, 22, 0, 22, 24, 22, 0, 22, 5, 22, 0, 22, 24, 22, 0, 22]
    assert pattern_b.categories().tolist() == [5, 22, 0, 22, 24, 22, 23, 4, 22, 22, 5, 22, 24, 23, 22, 21]
    assert pattern_b.labels()[15] == "ot"


@given(st.lists(st.integers(0, 31), min_size=16, max_size=16))
def test_categories_round_trip_for_all_32_categories(categories):
    assert Pattern.from_categories(categories).categories().tolist() == categories


@given(st.lists(st.integers(0, 31), min_size=16, max_size=48).filter(lambda c: len(c) % 16 == 0))
def test_grid_round_trip(categories):
    pattern = Pattern.from_categories(categories)
    assert Pattern.from_grid(pattern.to_grid()) == pattern
    assert Pattern.from_grid(pattern.to_grid("|")) == pattern


def test_grid_errors_name_row_and_column(pattern_a):
    bad = pattern_a.to_grid().replace("x.x.x.x.x.x.x.x.", "x.x.x.#.x.x.x.x.")
    with pytest.raises(JakiInputError, match=r"row 'closed', column 14: expected a hit \(x, X, o\) or a rest .*'#'"):
        Pattern.from_grid(bad)
    with pytest.raises(JakiInputError, match=r"row 'kick'.*15 steps"):
        Pattern.from_grid(pattern_a.to_grid().replace("x.......x.......", "x.......x......"))
    with pytest.raises(JakiInputError, match="missing row"):
        Pattern.from_grid("\n".join(pattern_a.to_grid().splitlines()[:4]))
    with pytest.raises(JakiInputError, match="unknown row 'hat'"):
        Pattern.from_grid(pattern_a.to_grid().replace("closed", "hat   "))


def test_grids_accept_the_hit_and_rest_marks_people_type(pattern_a):
    typed = (
        pattern_a.to_grid()
        .replace("x.x.x.x.x.x.x.x.", "X-o-x-X-o-x-X-o-")
        .replace("....x.......x...", "----o-------X---")
    )
    assert Pattern.from_grid(typed) == pattern_a


def test_labels_accept_any_letter_order_and_reject_junk():
    assert category_index("cks") == CATEGORY_LABELS.index("ksc")
    assert category_index("r") == REST
    for junk in ("", "kk", "x", "ksq"):
        with pytest.raises(JakiInputError):
            category_index(junk)


def test_with_step_returns_an_edited_copy(pattern_a):
    edited = pattern_a.with_step(1, "ks")
    assert edited.labels()[1] == "ks"
    assert pattern_a.labels()[1] == "r"
    assert edited.categories()[2:].tolist() == pattern_a.categories()[2:].tolist()


def test_pattern_is_an_immutable_value(pattern_a):
    with pytest.raises(ValueError):
        pattern_a.hits[0, 0] = False
    assert Pattern.from_categories(pattern_a.categories()) == pattern_a
    assert pattern_a.binary() == pattern_a


def test_bars_and_concat():
    two = Pattern.concat([Pattern.from_categories([4] * 16), Pattern.from_categories([23] * 16)])
    assert two.n_bars == 2
    assert two.bar(1).labels() == ["s"] * 16
    assert two.bar(-1) == two.bar(1)
    with pytest.raises(ValueError):
        Pattern(np.zeros((15, 5), dtype=bool))


def test_layers_are_cleared_where_there_is_no_hit():
    hits = np.zeros((16, 5), dtype=bool)
    hits[0, 0] = True
    pattern = Pattern(hits, np.full((16, 5), 0.7), np.full((16, 5), 5.0))
    assert pattern.velocities[0, 0] == pytest.approx(0.7) and pattern.velocities[1, 0] == 0
    assert pattern.offsets_ms[0, 0] == 5.0 and np.isnan(pattern.offsets_ms[1, 0])
