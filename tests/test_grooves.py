import pytest

from jaki.errors import JakiInputError
from jaki.grooves import get_groove, groove_library


def test_library_has_about_twenty_one_bar_grooves_with_distinct_patterns():
    library = groove_library()
    assert len(library) >= 20
    assert all(groove.pattern.n_bars == 1 for groove in library.values())
    assert len({groove.pattern for groove in library.values()}) == len(library)
    assert all(40 <= groove.tempo_bpm <= 220 for groove in library.values())


def test_rock_is_the_textbook_beat():
    rock = get_groove("rock").pattern
    assert rock.grid_rows()["snare"] == "....x.......x..."
    assert rock.grid_rows()["closed"] == "x.x.x.x.x.x.x.x."


def test_names_are_forgiving_about_case_and_separators():
    assert get_groove("Bossa Nova") is get_groove("bossa-nova")
    assert get_groove("reggae_one_drop").name == "reggae-one-drop"


def test_unknown_groove_suggests_the_closest_name():
    with pytest.raises(JakiInputError, match="unknown groove 'fnuk': did you mean funk"):
        get_groove("fnuk")
    with pytest.raises(JakiInputError, match="jaki grooves"):
        get_groove("zzzzzz")
