import json
import math
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jaki.cli.main import app
from jaki.dataset import load_dataset
from jaki.midi import read_drum_midi, write_drum_midi
from jaki.pattern import Pattern
from test_cli_model import tiny_dataset

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_json_document_describes_seed_continuation_files_and_seed(tiny_model_dir, tmp_path):
    result = run(
        "generate",
        "--groove",
        "rock",
        "--model",
        str(tiny_model_dir),
        "--out",
        str(tmp_path / "o"),
        "--seed",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["seed"]["grid"]["snare"] == "....x.......x..."
    assert document["seed"]["features"] == {
        "cymbal_density": 8,
        "drum_density": 5,
        "syncopation": 1,
        "repetition": 0.75,
    }
    assert set(document["files"]) == {"seed", "continuation", "tuned", "loop"}
    assert document["seed_value"] == 3 and document["model"] == "tiny-test"
    tuned = read_drum_midi(Path(document["files"]["tuned"])).bars[0].pattern
    assert tuned.grid_rows() == document["tuned"]["grid"]


def test_same_seed_gives_byte_identical_midi(tiny_model_dir, tmp_path):
    outputs = []
    for name in ("a", "b"):
        result = run(
            "generate",
            "--model",
            str(tiny_model_dir),
            "--temperature",
            "1",
            "--bars",
            "2",
            "--seed",
            "11",
            "--out",
            str(tmp_path / name),
        )
        assert result.exit_code == 0, result.output
        outputs.append({p.name: p.read_bytes() for p in (tmp_path / name).iterdir()})
    assert outputs[0] == outputs[1]


def test_without_seed_the_seed_used_is_printed_and_reproduces(tiny_model_dir, tmp_path):
    first = run(
        "generate", "--model", str(tiny_model_dir), "--temperature", "1", "--out", str(tmp_path / "x"), "--json"
    )
    seed_value = json.loads(first.stdout)["seed_value"]
    again = run(
        "generate",
        "--model",
        str(tiny_model_dir),
        "--temperature",
        "1",
        "--out",
        str(tmp_path / "y"),
        "--seed",
        str(seed_value),
    )
    assert again.exit_code == 0
    assert (tmp_path / "x" / "loop.mid").read_bytes() == (tmp_path / "y" / "loop.mid").read_bytes()


def test_refuses_to_overwrite_without_force(tiny_model_dir, tmp_path):
    args = ["generate", "--groove", "funk", "--model", str(tiny_model_dir), "--out", str(tmp_path), "--seed", "1"]
    assert run(*args).exit_code == 0
    stamp = (tmp_path / "seed.mid").stat().st_mtime_ns
    refused = run(*args, "--tempo", "80")
    assert refused.exit_code == 2 and "use --force" in refused.stderr
    assert (tmp_path / "seed.mid").stat().st_mtime_ns == stamp
    assert run(*args, "--tempo", "80", "--force").exit_code == 0


def test_seed_from_midi_and_grid_file(tiny_model_dir, tmp_path, pattern_b):
    midi = tmp_path / "in.mid"
    write_drum_midi(Pattern.concat([pattern_b, Pattern.empty()]), midi)
    result = run(
        "generate", "--seed-midi", str(midi), "--model", str(tiny_model_dir), "--out", str(tmp_path / "m"), "--json"
    )
    assert json.loads(result.stdout)["seed"]["grid"] == pattern_b.grid_rows()
    grid = tmp_path / "seed.txt"
    grid.write_text(pattern_b.to_grid())
    result = run(
        "generate",
        "--seed-grid-file",
        str(grid),
        "--model",
        str(tiny_model_dir),
        "--out",
        str(tmp_path / "g"),
        "--json",
    )
    assert json.loads(result.stdout)["seed"]["grid"] == pattern_b.grid_rows()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--groove", "fnuk"], "did you mean funk"),
        (["--seed-grid", "kick x...\\nsnare ...."], "grid"),
        (
            [
                "--seed-grid",
                "kick   x.......x.......\\nsnare  ....x.......x...\\nclosed x.x.x.x.x.x.x.x.\\nopen   ................\\ntoms   .........#......",
            ],
            "row 'toms', column 17",
        ),
        (["--seed-midi", "no/such/file.mid"], "no/such/file.mid"),
        (["--syncopation", "loud"], "syncopation target 'loud'"),
        (["--groove", "rock", "--seed-grid-file", "x.txt"], "choose one seed"),
        (["--tempo", "0"], "--tempo"),
        (["--open-as", "cowbell"], "--open-as"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tiny_model_dir, tmp_path, args, message):
    out = tmp_path / "out"
    result = run("generate", *args, "--model", str(tiny_model_dir), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error:")
    assert not out.exists()


def test_unwritable_output_folder(tiny_model_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("generate", "--model", str(tiny_model_dir), "--out", str(blocker))
    assert result.exit_code == 2 and "is a file" in result.stderr
    assert blocker.read_text() == "not a folder"


def test_grooves_lists_the_library():
    result = run("grooves")
    assert result.exit_code == 0 and "bossa-nova" in result.stdout and "reggae-one-drop" in result.stdout


def _drive_in_pty(command: list[str], answers: list[str], cwd: Path, timeout: float = 60.0) -> tuple[int, str]:
    """Run a command on a pseudo-terminal, answer each prompt line as it appears, return (exit code, screen)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, cwd=cwd, close_fds=True)
    os.close(terminal)
    screen, pending, deadline = "", list(answers), time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(controller, 4096).decode(errors="replace")
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
            while pending and screen.count("]:") > len(answers) - len(pending):
                os.write(controller, (pending.pop(0) + "\n").encode())
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    os.close(controller)
    return process.returncode, screen


def test_interactive_prompt_through_a_pseudo_terminal(tiny_model_dir, tmp_path):
    jaki = Path(sys.executable).with_name("jaki")
    command = [
        str(jaki),
        "generate",
        "--groove",
        "rock",
        "--model",
        str(tiny_model_dir),
        "--method",
        "greedy",
        "--out",
        "o",
        "--seed",
        "2",
    ]
    code, screen = _drive_in_pty(command, ["high", "", "1", ""], tmp_path)
    assert code == 0, screen
    assert "cymbal density [low" in screen and "repetition [low" in screen
    assert (tmp_path / "o" / "tuned.mid").is_file()


def test_the_prompt_asks_again_for_an_answer_out_of_range(tiny_model_dir, tmp_path):
    """999 for syncopation is refused when typed and asked again; the answers before it are kept."""
    jaki = Path(sys.executable).with_name("jaki")
    command = [str(jaki), "generate", "--groove", "rock", "--model", str(tiny_model_dir), "--method", "greedy"]
    command += ["--out", "o", "--seed", "2", "--json", "--interactive"]
    code, screen = _drive_in_pty(command, ["high", "", "999", "wild", "2", ""], tmp_path)
    assert code == 0, screen
    assert "syncopation target 999.0: out of range (expected 0..90)" in screen
    assert "syncopation target 'wild'" in screen
    assert screen.count("syncopation [low") == 3
    targets = json.loads(screen[screen.index("{\r\n") :])["targets"]
    assert {feature: target["level"] for feature, target in targets.items()} == {
        "cymbal_density": "high",
        "syncopation": "high",
    }


def test_no_prompt_without_a_terminal(tiny_model_dir, tmp_path):
    jaki = Path(sys.executable).with_name("jaki")
    done = subprocess.run(
        [str(jaki), "generate", "--model", str(tiny_model_dir), "--out", "o", "--seed", "2"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Targets" not in done.stderr + done.stdout


def test_shipped_models_tune_toward_the_targets(tmp_path):
    result = run(
        "generate",
        "--groove",
        "rock",
        "--syncopation",
        "high",
        "--repetition",
        "2",
        "--seed",
        "1",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["method"] == "agent"
    assert set(document["targets"]) == {"syncopation", "repetition"}
    for feature, target in document["targets"].items():
        value = document["tuned"]["features"][feature]
        assert target["value"] == value
        assert target["met"] == (target["band"][0] <= value <= target["band"][1])
    assert document["targets"]["repetition"]["level"] == "high"
    assert all(target["met"] for target in document["targets"].values())
    tuned = read_drum_midi(Path(document["files"]["tuned"])).bars[0].pattern
    assert tuned.grid_rows() == document["tuned"]["grid"]
    assert document["timing_ms"]["tuning"] < 1000


def test_out_of_range_number_target_is_refused(tmp_path):
    result = run("generate", "--groove", "rock", "--drum-density", "60", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "out of range" in result.stderr
    assert not (tmp_path / "o").exists()


def test_seed_midi_without_a_usable_four_four_bar(tiny_model_dir, tmp_path):
    import mido

    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=3, denominator=4)])
    for _ in range(6):
        track += [
            mido.Message("note_on", channel=9, note=36, velocity=100),
            mido.Message("note_off", channel=9, note=36, time=480),
        ]
    waltz = tmp_path / "waltz.mid"
    mido.MidiFile(tracks=[track]).save(waltz)
    result = run("generate", "--seed-midi", str(waltz), "--model", str(tiny_model_dir), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "4/4" in result.stderr and "waltz.mid" in result.stderr
    assert not (tmp_path / "o").exists()


def test_multi_bar_output_and_pictures(tmp_path):
    result = run(
        "generate",
        "--groove",
        "rock",
        "--bars",
        "3",
        "--cymbal-density",
        "low",
        "--seed",
        "2",
        "--out",
        str(tmp_path),
        "--png",
        "--json",
    )
    document = json.loads(result.stdout)
    assert len(document["tuned"]["bars"]) == 3 and len(document["targets"]["cymbal_density"]["values"]) == 3
    loop = read_drum_midi(Path(document["files"]["loop"]))
    assert len(loop.bars) == 4
    assert (tmp_path / "patterns.png").read_bytes()[:4] == b"\x89PNG"


def test_variations_write_one_folder_each_and_json_lists_them(tiny_model_dir, tmp_path):
    out = tmp_path / "v"
    args = ["generate", "--groove", "funk", "--model", str(tiny_model_dir), "--temperature", "1.5", "--seed", "4"]
    result = run(*args, "--variations", "3", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [v["rank"] for v in document["variations"]] == [1, 2, 3]
    grids = [json.dumps(v["continuation"]["grid"]) for v in document["variations"]]
    assert len(set(grids)) == 3
    likelihoods = [v["log_likelihood"] for v in document["variations"]]
    assert likelihoods == sorted(likelihoods, reverse=True)
    for rank, variation in enumerate(document["variations"], start=1):
        folder = out / f"variation-{rank}"
        assert sorted(p.name for p in folder.iterdir()) == ["continuation.mid", "loop.mid", "seed.mid", "tuned.mid"]
        written = read_drum_midi(folder / "continuation.mid").bars[0].pattern
        assert written.grid_rows() == variation["continuation"]["grid"]
    again = run(*args, "--variations", "3", "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.output  # nothing overwritten


def test_fill_and_top_p_options(tiny_model_dir, tmp_path):
    result = run(
        "generate",
        "--groove",
        "rock",
        "--model",
        str(tiny_model_dir),
        "--bars",
        "4",
        "--fill",
        "--top-p",
        "0.5",
        "--temperature",
        "1",
        "--out",
        str(tmp_path / "f"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["decoding"] == {"temperature": 1.0, "top_p": 0.5} and len(document["continuation"]["bars"]) == 4
    bad = run(
        "generate", "--groove", "rock", "--model", str(tiny_model_dir), "--top-p", "0", "--out", str(tmp_path / "g")
    )
    assert bad.exit_code == 2 and "--top-p" in bad.output


@pytest.mark.parametrize("method", ["agent", "greedy"])
def test_met_printed_and_in_json_is_the_tuners_verdict_at_a_band_edge(tmp_path, method):
    # rock's tuned bar lands on 0.4, the top of the band 0.35 ± 0.05 (0.39999999999999997 in floats).
    args = ["generate", "--groove", "rock", "--repetition", "0.35", "--method", method, "--seed", "1"]
    shown = run(*args, "--out", str(tmp_path / "table"))
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.stdout.splitlines() if line.lstrip().startswith("repetition"))
    assert row.split()[-1] == "yes"
    document = json.loads(run(*args, "--out", str(tmp_path / "json"), "--json").stdout)
    target = document["targets"]["repetition"]
    assert target["met"] is True and target["band"][1] < 0.4
    assert abs(target["value"] - 0.35) <= 0.05 + 1e-9


def test_keep_leaves_those_rows_alone_and_unknown_parts_are_refused(tmp_path):
    args = ["generate", "--groove", "rock", "--syncopation", "high", "--seed", "1", "--json"]
    free = json.loads(run(*args, "--out", str(tmp_path / "free")).stdout)
    kept = json.loads(run(*args, "--keep", "kick, snare", "--out", str(tmp_path / "kept")).stdout)
    assert kept["targets"]["syncopation"]["met"]
    for part in ("kick", "snare"):
        assert kept["tuned"]["grid"][part] == kept["continuation"]["grid"][part]
    assert any(free["tuned"]["grid"][p] != free["continuation"]["grid"][p] for p in ("kick", "snare"))
    bad = run(*args, "--keep", "kick,cowbell", "--out", str(tmp_path / "bad"))
    assert bad.exit_code == 2 and "unknown part(s) cowbell" in bad.stderr and not (tmp_path / "bad").exists()


def test_refine_status_shows_real_numbers_or_a_dash():
    from jaki.cli.generate import refine_status
    from jaki.tuner import TrainProgress

    def state(step, ret, success):
        return TrainProgress(step, 10**6, 0.1, 3 * step, ret, success, 2.0, 0.5, 0.1 * step)

    assert refine_status(state(1, math.nan, math.nan), math.nan, bar=1, bars=1, seconds=5) == (
        "refining 0.1 of 5 s: step 1, 3 episodes, reward — (best —), all met —"
    )
    assert refine_status(state(12, 1.234, 0.75), 1.5, bar=2, bars=4, seconds=2.5) == (
        "refining bar 2/4, 1.2 of 2.5 s: step 12, 36 episodes, reward +1.23 (best +1.50), all met 75%"
    )


# --- feel: humanised by default, --quantize, --humanize, --swing ---------------------------------------------------
def _feel_run(tiny_model_dir, out: Path, *args: str, groove: str = "rock"):
    result = run("generate", "--groove", groove, "--model", str(tiny_model_dir), "--tempo", "120", "--seed", "4",
                 "--out", str(out), "--json", *args)  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _read(path: Path) -> Pattern:
    return Pattern.concat([bar.pattern for bar in read_drum_midi(path).bars])


def test_every_midi_file_is_played_by_default(tiny_model_dir, tmp_path):
    document = _feel_run(tiny_model_dir, tmp_path / "o")
    assert document["feel"]["humanize"] == 1.0 and document["feel"]["swing"] == 50.0
    accents = {68, 84, 100, 112}
    for name in ("seed", "continuation", "tuned", "loop"):
        pattern = _read(Path(document["files"][name]))
        assert set(np.round(127 * pattern.velocities[pattern.hits]).astype(int)) - accents, name
    for name in ("seed", "loop"):
        pattern = _read(Path(document["files"][name]))
        assert np.abs(pattern.offsets_ms[pattern.hits]).max() > 3.0, name
    # The tiny model may put all of bar 2's hits on step 0, where an early hit is written on the file's first tick.
    assert max(abs(hit["offset_ms"]) for hit in document["feel"]["continuation"]) > 1.0
    written = _read(Path(document["files"]["tuned"]))
    listed = document["feel"]["tuned"]
    assert len(listed) == int(written.hits.sum())
    first = listed[0]
    assert first["velocity"] == round(127 * written.velocities[first["step"], 0]) or first["part"] != "kick"


def test_quantize_writes_the_grid_and_humanize_scales_the_timing(tiny_model_dir, tmp_path):
    grid = _feel_run(tiny_model_dir, tmp_path / "q", "--quantize")
    assert grid["feel"] is None
    loop = _read(Path(grid["files"]["loop"]))
    assert np.all(loop.offsets_ms[loop.hits] == 0)
    assert set(np.round(127 * loop.velocities[loop.hits]).astype(int)) <= {68, 84, 100, 112}
    full = _read(Path(_feel_run(tiny_model_dir, tmp_path / "f")["files"]["loop"]))
    half = _read(Path(_feel_run(tiny_model_dir, tmp_path / "h", "--humanize", "0.5")["files"]["loop"]))
    hits = full.hits
    np.testing.assert_allclose(half.offsets_ms[hits], 0.5 * full.offsets_ms[hits], atol=1.1)


def test_swing_delays_the_off_beat_sixteenths(tiny_model_dir, tmp_path):
    document = _feel_run(tiny_model_dir, tmp_path / "s", "--quantize", "--swing", "62", groove="funk")
    loop = _read(Path(document["files"]["loop"]))
    steps = np.arange(loop.n_steps)[:, None].repeat(5, axis=1)
    off_beat = loop.hits & (steps % 2 == 1)
    assert off_beat.any()
    np.testing.assert_allclose(loop.offsets_ms[off_beat], (62 / 50 - 1) * 125.0, atol=1.0)
    assert np.all(loop.offsets_ms[loop.hits & (steps % 2 == 0)] == 0)


def test_a_played_midi_seed_keeps_its_feel_in_seed_mid(tiny_model_dir, tmp_path, pattern_b):
    rng = np.random.default_rng(0)
    velocities = np.where(pattern_b.hits, rng.uniform(0.3, 1.0, pattern_b.hits.shape), 0.0)
    offsets = np.where(pattern_b.hits, rng.uniform(2.0, 40.0, pattern_b.hits.shape), np.nan)
    played = Pattern(pattern_b.hits, velocities, offsets)
    midi = tmp_path / "played.mid"
    write_drum_midi(played, midi, tempo_bpm=120.0)
    result = run("generate", "--seed-midi", str(midi), "--model", str(tiny_model_dir), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    seed = _read(tmp_path / "o" / "seed.mid")
    assert np.array_equal(seed.hits, played.hits)
    assert np.abs(seed.offsets_ms - played.offsets_ms)[played.hits].max() < 1.0
    assert np.abs(seed.velocities - played.velocities)[played.hits].max() <= 1 / 127


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quantize", "--humanize", "0.5"], "--quantize and --humanize"),
        (["--humanize", "1.5"], "--humanize"),
        (["--swing", "80"], "--swing"),
    ],
)
def test_bad_feel_options_are_one_line_exit_2(tiny_model_dir, tmp_path, args, message):
    out = tmp_path / "out"
    result = run("generate", "--groove", "rock", *args, "--model", str(tiny_model_dir), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_all_writes_every_loop_of_a_dataset_into_its_own_folder_reproducibly(tiny_model_dir, tmp_path):
    data = tiny_dataset(tmp_path / "loops.npz", n=12, held_out=2)
    common = ("generate", "--from-data", str(data), "--all", "--model", str(tiny_model_dir), "--syncopation", "high")
    for name in ("a", "b"):
        result = run(*common, "--out", str(tmp_path / name), "--seed", "4")
        assert result.exit_code == 0, result.output
        assert "wrote 12 folders" in result.stderr and "patterns/s" in result.stderr
    folders = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert folders == [f"loop-{index:05d}" for index in range(12)]
    for folder in folders:
        names = sorted(path.name for path in (tmp_path / "a" / folder).iterdir())
        assert names == ["continuation.mid", "loop.mid", "seed.mid", "tuned.mid"]  # what one seed writes
        for name in names:
            assert (tmp_path / "a" / folder / name).read_bytes() == (tmp_path / "b" / folder / name).read_bytes()
    loop_3 = read_drum_midi(tmp_path / "a" / "loop-00003" / "seed.mid").bars[0].pattern
    assert np.array_equal(loop_3.hits, load_dataset(data).pattern(3).bar(0).hits)

    listed = run(*common, "--out", str(tmp_path / "c"), "--seed", "4", "--json")
    documents = json.loads(listed.stdout)
    assert len(documents) == 12 and documents[3]["seed"]["source"].endswith("loop 3 (loop3.mid bar 1)")
    assert (tmp_path / "c" / "loop-00003" / "tuned.mid").read_bytes() == (
        tmp_path / "a" / "loop-00003" / "tuned.mid"
    ).read_bytes()


def all_loops_into(folder: Path, model_dir: Path) -> tuple[str, ...]:
    """``jaki generate --all`` over six loops of a tiny dataset, into ``folder``."""
    data = tiny_dataset(folder.with_suffix(".npz"), n=6, held_out=1)
    return ("generate", "--from-data", str(data), "--all", "--model", str(model_dir), "--out", str(folder))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--index", "2"], "--all goes with --from-data"),
        (["--variations", "2"], "--all goes with --from-data"),
        (["--groove", "funk"], "choose one seed"),
        (["--tempo", "999"], "--tempo 999"),
    ],
)
def test_all_refuses_bad_input_in_one_line_before_writing(tiny_model_dir, tmp_path, extra, message):
    result = run(*all_loops_into(tmp_path / "o", tiny_model_dir), *extra)
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr and not (tmp_path / "o").exists()


def test_all_never_overwrites_a_folder_without_force(tiny_model_dir, tmp_path):
    common = all_loops_into(tmp_path / "o", tiny_model_dir)
    assert run(*common, "--seed", "1").exit_code == 0
    before = {path: path.read_bytes() for path in (tmp_path / "o").rglob("*.mid")}
    again = run(*common, "--seed", "2")
    assert again.exit_code == 2 and "exists (use --force" in again.stderr
    assert {path: path.read_bytes() for path in (tmp_path / "o").rglob("*.mid")} == before
    assert run("generate", "--all", "--model", str(tiny_model_dir)).exit_code == 2
    forced = run(*common, "--seed", "2", "--force")
    assert forced.exit_code == 0 and {p: p.read_bytes() for p in (tmp_path / "o").rglob("*.mid")} != before
