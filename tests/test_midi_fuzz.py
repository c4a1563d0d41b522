"""Issue item 7: damaged real files make the reader return or raise JakiInputError, never anything else."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GMD, GROOVETOOLBOX
from jaki.errors import JakiInputError
from jaki.midi import DrumMidi, read_drum_midi


def seed_files() -> list[Path]:
    """A few real files of each source: small enough to mutate quickly, different enough to matter."""
    gmd = sorted(GMD.glob("drummer1/eval_session/*.mid"))[:4] if GMD.is_dir() else []
    loops = sorted((GROOVETOOLBOX / "midi").glob("*.mid"))[:4] if GROOVETOOLBOX.is_dir() else []
    return gmd + loops


SEEDS = seed_files()


@st.composite
def mutations(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "set", "insert", "delete"]))
        at = draw(st.integers(0, len(data)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


@pytest.mark.skipif(not SEEDS, reason="../shared/data is absent")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutations())
def test_mutated_real_files_give_a_result_or_an_input_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.mid"
        path.write_bytes(data)
        try:
            result = read_drum_midi(path)
        except JakiInputError as error:
            message = str(error)
            assert message.startswith(str(path)) and "\n" not in message
        else:
            assert isinstance(result, DrumMidi) and result.bars
