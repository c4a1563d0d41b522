import json
import shutil
import wave

import mido
import numpy as np
import pytest

from jaki.errors import JakiInputError
from jaki.generate import (
    bar_features,
    generate,
    generation_document,
    parse_target,
    random_groove,
    seed_from_grid,
    seed_from_groove,
    seed_from_midi,
    write_generation,
)
from jaki.midi import read_drum_midi, write_drum_midi
from jaki.pattern import Pattern
from jaki.weights import load_model


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir)


def test_parse_target_accepts_levels_original_digits_and_numbers():
    assert parse_target("syncopation", "High") == "high"
    assert parse_target("syncopation", "0") == "low"
    assert parse_target("syncopation", "2") == "high"
    assert parse_target("syncopation", "7") == 7.0
    assert parse_target("repetition", "0.5") == 0.5
    assert parse_target("repetition", "") is None
    with pytest.raises(JakiInputError, match="syncopation target 'loud'"):
        parse_target("syncopation", "loud")


def test_seeds_from_groove_grid_and_random(pattern_a):
    assert seed_from_groove("rock").pattern.grid_rows()["snare"] == "....x.......x..."
    assert seed_from_grid(pattern_a.to_grid()).pattern == pattern_a
    first = random_groove(np.random.default_rng(3))
    assert random_groove(np.random.default_rng(3)) == first
    with pytest.raises(JakiInputError, match="one bar"):
        seed_from_grid(Pattern.concat([pattern_a, pattern_a]).to_grid())
    with pytest.raises(JakiInputError, match="empty"):
        seed_from_grid(Pattern.empty().to_grid())


def test_seed_from_midi_takes_the_first_bar_with_hits_or_the_numbered_bar(tmp_path, pattern_a, pattern_b):
    path = tmp_path / "two.mid"
    write_drum_midi(Pattern.concat([Pattern.empty(), pattern_a, pattern_b]), path, tempo_bpm=90)
    assert seed_from_midi(path).pattern.binary() == pattern_a
    seed = seed_from_midi(path, bar=3)
    assert seed.pattern.binary() == pattern_b and seed.tempo_bpm == pytest.approx(90)
    with pytest.raises(JakiInputError, match="bar 9 is not a usable 4/4 bar"):
        seed_from_midi(path, bar=9)


def test_every_bar_of_a_phrase_varies_the_seed(tiny, pattern_a):
    result = generate(seed_from_grid(pattern_a.to_grid()), n_bars=3, model=tiny, temperature=0)
    assert result.continuation.n_bars == 3
    bar1 = tiny.model.generate(pattern_a.categories()[None], greedy=True)
    for index in range(3):  # an unconditioned model plays the same bar at every place of the phrase
        assert result.continuation.bar(index).categories().tolist() == bar1[0].tolist()


def test_sampling_is_reproducible_from_the_seed_value(tiny, pattern_a):
    seed = seed_from_grid(pattern_a.to_grid())
    one = generate(seed, temperature=1.0, seed_value=5, model=tiny, n_bars=2)
    assert generate(seed, temperature=1.0, seed_value=5, model=tiny, n_bars=2).continuation == one.continuation
    others = {generate(seed, temperature=1.0, seed_value=s, model=tiny).continuation for s in range(6)}
    assert len(others) > 1


def test_generation_document_holds_each_pattern_bar_by_bar_and_each_target(tiny, pattern_b):
    result = generate(seed_from_grid(pattern_b.to_grid()), {"syncopation": "high"}, n_bars=2, model=tiny)
    document = json.loads(json.dumps(generation_document(result), allow_nan=False))
    assert document["seed"]["grid"] == pattern_b.grid_rows()
    assert document["seed"]["source"] == "grid"
    assert "bars" not in document["seed"]
    assert document["tuned"]["grid"] == result.tuned.grid_rows()
    assert [bar["grid"] for bar in document["tuned"]["bars"]] == [bar.grid_rows() for bar in result.tuned.bars()]
    assert [bar["features"] for bar in document["continuation"]["bars"]] == bar_features(result.continuation)
    outcome = result.outcomes[0]
    assert document["targets"] == {
        "syncopation": {
            "level": "high",
            "band": [outcome.band.lo, outcome.band.hi],
            "value": outcome.values[0],
            "values": list(outcome.values),
            "met": outcome.met,
        }
    }
    assert document["files"] == {}
    assert document["method"] == "agent"


def test_write_generation_writes_all_files_and_never_overwrites(tiny, tmp_path, pattern_b):
    result = generate(seed_from_grid(pattern_b.to_grid()), model=tiny)
    files = write_generation(result, tmp_path / "out", tempo_bpm=96)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "continuation.mid",
        "loop.mid",
        "seed.mid",
        "tuned.mid",
    ]
    loop = read_drum_midi(files["loop"])
    assert [bar.pattern.binary() for bar in loop.bars] == [pattern_b, result.result]
    assert mido.MidiFile(files["seed"]).tracks[1][1].channel == 9
    before = files["seed"].read_bytes()
    with pytest.raises(JakiInputError, match="use --force"):
        write_generation(result, tmp_path / "out", tempo_bpm=120)
    assert files["seed"].read_bytes() == before
    write_generation(result, tmp_path / "out", tempo_bpm=120, force=True)
    assert files["seed"].read_bytes() != before


def test_png_is_drawn(tiny, tmp_path, pattern_a):
    result = generate(seed_from_grid(pattern_a.to_grid()), model=tiny)
    files = write_generation(result, tmp_path, tempo_bpm=100, png=True)
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed")
def test_wav_is_rendered_with_fluidsynth(tiny, tmp_path, pattern_a):
    result = generate(seed_from_grid(pattern_a.to_grid()), model=tiny)
    files = write_generation(result, tmp_path, tempo_bpm=120, wav=True)
    with wave.open(str(files["wav"])) as audio:
        frames, rate = audio.getnframes(), audio.getframerate()
    assert (frames, rate) == (4 * 44100, 44100)  # exactly the two bars at 120 BPM: the tail is folded onto the start
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_fluidsynth_names_the_package_and_leaves_no_files(tiny, tmp_path, pattern_a, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = generate(seed_from_grid(pattern_a.to_grid()), model=tiny)
    with pytest.raises(JakiInputError, match="apt-get install fluidsynth"):
        write_generation(result, tmp_path / "out", tempo_bpm=120, wav=True)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def conditioned(tmp_path_factory, tiny_model_dir):
    """A tiny model with every condition and a sampling default, saved like a real one."""
    import torch

    from jaki.conditions import CONDITIONS
    from jaki.model import ContinuationModel, ModelConfig
    from jaki.weights import save_model

    torch.manual_seed(1)
    model = ContinuationModel(ModelConfig(embed_dim=8, hidden=16, conditions=CONDITIONS)).eval()
    directory = tmp_path_factory.mktemp("models") / "conditioned"
    metadata = {"bands": load_model(tiny_model_dir).metadata["bands"], "decoding": {"temperature": 1.0, "top_p": 0.95}}
    save_model(model, directory, metadata=metadata)
    return load_model(directory)


def test_the_default_samples_from_the_seed_value_and_temperature_0_is_the_most_likely_bar(conditioned, pattern_a):
    seed = seed_from_grid(pattern_a.to_grid())
    first = generate(seed, model=conditioned, seed_value=1)
    assert first.decoding.temperature == 1.0 and first.decoding.top_p == 0.95
    assert generate(seed, model=conditioned, seed_value=1).continuation == first.continuation
    assert len({generate(seed, model=conditioned, seed_value=s).continuation for s in range(8)}) > 4
    most_likely = generate(seed, model=conditioned, temperature=0, seed_value=3)
    assert most_likely.continuation == generate(seed, model=conditioned, temperature=0, seed_value=4).continuation
    # A grid is programmed (code 1), bar 2 of its phrase (position 1), no fill.
    expected = conditioned.model.generate(pattern_a.categories()[None], greedy=True, conditions=[[1, 0, 1]])
    assert most_likely.continuation.categories().tolist() == expected[0].tolist()


def test_fill_conditions_the_last_bar_only(conditioned, pattern_a):
    seed = seed_from_grid(pattern_a.to_grid())
    plain = generate(seed, model=conditioned, temperature=0, n_bars=3)
    filled = generate(seed, model=conditioned, temperature=0, n_bars=3, fill=True)
    assert filled.continuation.bar(0) == plain.continuation.bar(0)
    assert filled.continuation.bar(1) == plain.continuation.bar(1)
    expected = conditioned.model.generate(pattern_a.categories()[None], greedy=True, conditions=[[1, 1, 3]])
    assert filled.continuation.bar(2).categories().tolist() == expected[0].tolist()
    third = conditioned.model.generate(pattern_a.categories()[None], greedy=True, conditions=[[1, 0, 3]])
    assert plain.continuation.bar(2).categories().tolist() == third[0].tolist()  # bar 3 of the phrase: position 3


def test_variations_are_distinct_ranked_by_likelihood_and_the_first_is_generate(conditioned, pattern_b):
    from jaki.generate import generate_variations

    seed = seed_from_grid(pattern_b.to_grid())
    variations = generate_variations(seed, None, 5, model=conditioned, seed_value=2)
    assert len(variations) == 5 and [v.rank for v in variations] == [1, 2, 3, 4, 5]
    assert len({v.continuation for v in variations}) == 5
    likelihoods = [v.log_likelihood for v in variations]
    assert likelihoods == sorted(likelihoods, reverse=True)
    exact = conditioned.model.log_likelihood(
        pattern_b.categories()[None], variations[0].continuation.categories()[None], conditions=[[1, 0, 1]]
    )
    assert variations[0].log_likelihood == pytest.approx(float(exact[0]), abs=1e-4)
    again = generate_variations(seed, None, 5, model=conditioned, seed_value=2)
    assert [v.continuation for v in again] == [v.continuation for v in variations]
    assert len(generate_variations(seed, None, 4, model=conditioned, temperature=0)) == 1  # one most likely bar
    with pytest.raises(JakiInputError, match="--variations 0"):
        generate_variations(seed, None, 0, model=conditioned)


def test_the_shipped_model_keeps_what_defines_a_style_and_varies_with_the_seed():
    """A one-drop keeps its lone kick on beat 3, a half-time groove its snare on beat 3, a double kick stays a
    double kick (ten random seeds each), while different seeds give different bars."""
    shipped = load_model()
    one_drop, half_time, metal = (seed_from_groove(name) for name in ("reggae-one-drop", "half-time", "metal"))
    drops, snares, bars = 0, 0, set()
    for value in range(10):
        drop = generate(one_drop, model=shipped, seed_value=value).continuation
        drops += bool(drop.hits[8, 0])
        half = generate(half_time, model=shipped, seed_value=value).continuation
        snares += bool(half.hits[8, 1])
        assert half.hits[:, 0].any()  # its kick never vanishes
        double = generate(metal, model=shipped, seed_value=value).continuation
        assert double.hits[:, 0].sum() >= 8  # of the seed's 16
        bars.add(double)
    assert drops >= 9 and snares >= 8
    assert len(bars) >= 8
    assert (
        generate(metal, model=shipped, seed_value=3).continuation
        == generate(metal, model=shipped, seed_value=3).continuation
    )


def test_a_batch_plays_and_tunes_each_seed_as_its_own_call_does_at_temperature_0(conditioned, pattern_b):
    """generate_batch: programmed and performed seeds (two sets of condition codes, so two batched tuner calls per
    bar) tuned by the shipped agent give, greedily decoded, what one generate call per seed gives."""
    from jaki.generate import Seed, generate_batch

    performed = Pattern(pattern_b.hits, pattern_b.hits * 0.8, np.where(pattern_b.hits, 12.0, np.nan))
    seeds = [seed_from_groove("funk"), Seed(performed, "played", 95.0), seed_from_groove("bossa-nova")]
    requests = {"syncopation": "high", "drum_density": "low"}
    options = {"model": conditioned, "temperature": 0, "seed_value": 5, "n_bars": 2, "fill": True}
    batch = generate_batch(seeds, requests, **options)
    assert len(batch) == len(seeds) and all(g.tuned is not None and g.tuned.n_bars == 2 for g in batch)
    for seed, batched in zip(seeds, batch, strict=True):
        alone = generate(seed, requests, **options)
        document, expected = generation_document(batched), generation_document(alone)
        assert document.pop("log_likelihood") == pytest.approx(expected.pop("log_likelihood"), abs=1e-3)
        assert {**document, "timing_ms": None} == {**expected, "timing_ms": None}
        assert batched.performance is not None and batched.performance.document() == alone.performance.document()


def test_a_sampled_batch_is_reproducible_from_the_seed_value(conditioned, pattern_a):
    from jaki.generate import generate_batch

    seeds = [seed_from_groove(name) for name in ("funk", "rock")] * 3
    heard = []
    first = generate_batch(seeds, None, model=conditioned, seed_value=1, progress=heard.append)
    assert heard == [len(seeds)] and [g.tuned for g in first] == [None] * len(seeds)
    again = generate_batch(seeds, None, model=conditioned, seed_value=1)
    other = generate_batch(seeds, None, model=conditioned, seed_value=2)
    assert [g.continuation for g in again] == [g.continuation for g in first]
    assert [g.continuation for g in other] != [g.continuation for g in first]
    assert len({g.continuation for g in first}) > 2  # one generator for the batch: equal seeds, different draws
    with pytest.raises(JakiInputError, match="no seeds"):
        generate_batch([], None, model=conditioned)
