"""The studio's JSON API through Starlette's ASGI test client: the same documents and files as ``jaki generate``,
and every bad input a 4xx with the CLI's one line."""

import base64
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from jaki.cli.main import app as cli
from jaki.grooves import groove_library
from jaki.midi import read_drum_midi, write_drum_midi
from jaki.pattern import Pattern
from jaki.studio import api
from jaki.studio.api import StudioConfig
from jaki.studio.app import create_app
from jaki.weights import load_model

runner = CliRunner()
STEERED = {"syncopation": "high", "repetition": "low", "seed": 7}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(load_model()), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run in an empty folder, so that a test can see that the studio wrote nothing, and so that the CLI names a
    MIDI file exactly as the studio names an upload."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def two_bar_midi(in_tmp, pattern_a, pattern_b) -> Path:
    path = in_tmp / "beat.mid"
    write_drum_midi(Pattern.concat([pattern_a, pattern_b]), path, tempo_bpm=96)
    return path


def cli_json(*args: str) -> dict:
    result = runner.invoke(cli, ["generate", *args, "--json", "--out", "cli-out"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli_error(*args: str) -> str:
    result = runner.invoke(cli, ["generate", *args, "--out", "cli-out"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


def comparable(document: dict) -> dict:
    """A document without what differs between two runs of the same generation (timings) or by design (files)."""
    kept = {key: value for key, value in document.items() if key not in ("timing_ms", "files")}
    if "variations" in kept:
        kept["variations"] = [comparable(variation) for variation in kept["variations"]]
    return kept


def test_generate_returns_the_document_jaki_generate_json_prints(client, in_tmp):
    answer = client.post("/api/generate", json={"groove": "funk", **STEERED})
    assert answer.status_code == 200
    document = answer.json()
    assert document["files"] == {}
    assert comparable(document) == comparable(
        cli_json("--groove", "funk", "--syncopation", "high", "--repetition", "low", "--seed", "7")
    )
    assert document["targets"]["syncopation"]["met"] and document["targets"]["repetition"]["met"]


def test_generate_takes_a_typed_grid_bars_temperature_closeness_and_method(client, in_tmp, pattern_b):
    grid = pattern_b.to_grid()
    request = {"seed_grid": grid, "drum_density": "2", "bars": 2, "temperature": 0.7, "closeness": 0.3, "seed": 3}
    document = client.post("/api/generate", json={**request, "method": "greedy"}).json()
    assert len(document["tuned"]["bars"]) == 2
    assert comparable(document) == comparable(
        cli_json(
            "--seed-grid", grid, "--drum-density", "2", "--bars", "2", "--temperature", "0.7",
            "--closeness", "0.3", "--seed", "3", "--method", "greedy",
        )
    )  # fmt: skip


def test_variations_fill_and_top_p_as_the_cli_gives_them(client, in_tmp):
    request = {"groove": "funk", "syncopation": "high", "variations": 3, "fill": True, "temperature": 1.0, "top_p": 0.9}
    request["seed"] = 5
    document = client.post("/api/generate", json=request).json()
    assert len(document["variations"]) == 3 and [v["rank"] for v in document["variations"]] == [1, 2, 3]
    expected = cli_json(
        "--groove", "funk", "--syncopation", "high", "--variations", "3", "--fill", "--temperature", "1.0",
        "--top-p", "0.9", "--seed", "5",
    )  # fmt: skip
    assert comparable(document) == comparable(expected)
    second = client.post("/api/midi/loop?variation=2", json=request)
    assert second.content == (in_tmp / "cli-out" / "variation-2" / "loop.mid").read_bytes()
    assert client.post("/api/midi/loop?variation=9", json=request).json() == {
        "error": "variation 9: this request gives 3"
    }


def test_kept_parts_are_kept_as_the_cli_keeps_them(client, in_tmp):
    request = {"groove": "rock", "syncopation": "high", "drum_density": "high", "keep": ["kick", "snare"], "seed": 2}
    document = client.post("/api/generate", json=request).json()
    for part in ("kick", "snare"):
        assert document["tuned"]["grid"][part] == document["continuation"]["grid"][part]
    expected = cli_json(
        "--groove", "rock", "--syncopation", "high", "--drum-density", "high", "--keep", "kick,snare", "--seed", "2"
    )  # fmt: skip
    assert comparable(document) == comparable(expected)
    assert comparable(client.post("/api/generate", json={**request, "keep": "kick, snare"}).json()) == comparable(
        expected
    )


def test_feel_is_the_clis_humanize_and_swing(client, in_tmp):
    request = {"groove": "rock", "syncopation": "high", "humanize": 0.5, "swing": 62, "tempo": 104, "seed": 3}
    document = client.post("/api/generate", json=request).json()
    assert document["feel"]["humanize"] == 0.5 and document["feel"]["swing"] == 62
    cli = ("--groove", "rock", "--syncopation", "high", "--humanize", "0.5", "--swing", "62", "--tempo", "104")
    assert comparable(document) == comparable(cli_json(*cli, "--seed", "3"))
    assert client.post("/api/midi/loop", json=request).content == (in_tmp / "cli-out" / "loop.mid").read_bytes()
    grid = client.post("/api/generate", json={**request, "humanize": 0, "swing": 50}).json()
    assert grid["feel"] is None


def test_a_seed_is_drawn_and_reported_when_none_is_given(client):
    first = client.post("/api/generate", json={"groove": "rock", "temperature": 1.0}).json()
    again = client.post("/api/generate", json={"groove": "rock", "temperature": 1.0, "seed": first["seed_value"]})
    assert comparable(again.json()) == comparable(first)


def test_grooves_lists_the_built_in_grooves_with_grids_and_tempo(client):
    grooves = client.get("/api/grooves").json()
    assert [groove["name"] for groove in grooves] == list(groove_library())
    rock = next(groove for groove in grooves if groove["name"] == "rock")
    assert rock["grid"] == groove_library()["rock"].pattern.grid_rows()
    assert rock["tempo"] == groove_library()["rock"].tempo_bpm
    assert set(rock["features"]) == {"cymbal_density", "drum_density", "syncopation", "repetition"}


def test_seed_from_midi_reads_an_upload_as_seed_midi_reads_the_file(client, two_bar_midi, pattern_a, pattern_b):
    data = two_bar_midi.read_bytes()
    first = client.post("/api/seed-from-midi?name=beat.mid", content=data).json()
    assert first["bar"] == 1 and first["seed"]["grid"] == pattern_a.grid_rows()
    assert [bar["grid"] for bar in first["bars"]] == [pattern_a.grid_rows(), pattern_b.grid_rows()]
    assert first["tempo"] == pytest.approx(96)
    second = client.post("/api/seed-from-midi?name=beat.mid&bar=2&drum_map=gm", content=data).json()
    assert second["seed"]["source"] == "beat.mid bar 2"
    assert second["seed"]["grid"] == pattern_b.grid_rows()

    request = {"seed_midi": base64.b64encode(data).decode(), "seed_midi_name": "beat.mid", "bar": 2, **STEERED}
    document = client.post("/api/generate", json={**request, "seed": 5}).json()
    assert document["seed"]["source"] == "beat.mid bar 2"
    args = ("--seed-midi", "beat.mid", "--bar", "2", "--syncopation", "high", "--repetition", "low", "--seed", "5")
    assert comparable(document) == comparable(cli_json(*args))


def test_a_drum_channel_is_chosen_as_with_channel(client, in_tmp, pattern_b):
    """Drums on channel 1 of a file whose channel 1 has a piano program: refused with the CLI's hint, read with it."""
    import mido

    write_drum_midi(pattern_b, in_tmp / "drums.mid", tempo_bpm=100)
    midi = mido.MidiFile(in_tmp / "drums.mid")
    for track in midi.tracks:
        for i, message in enumerate(track):
            if message.type in ("note_on", "note_off"):
                track[i] = message.copy(channel=0)
    midi.tracks[1].insert(1, mido.Message("program_change", channel=0, program=0, time=0))
    midi.save(in_tmp / "piano.mid")
    data = (in_tmp / "piano.mid").read_bytes()
    refused = client.post("/api/seed-from-midi?name=piano.mid", content=data)
    assert refused.status_code == 400 and refused.json() == {"error": cli_error("--seed-midi", "piano.mid")}
    read = client.post("/api/seed-from-midi?name=piano.mid&channel=1", content=data).json()
    assert read["seed"]["grid"] == pattern_b.grid_rows()
    request = {"seed_midi": base64.b64encode(data).decode(), "seed_midi_name": "piano.mid", "channel": 1, "seed": 1}
    document = client.post("/api/generate", json=request).json()
    assert comparable(document) == comparable(cli_json("--seed-midi", "piano.mid", "--channel", "1", "--seed", "1"))
    assert client.post("/api/generate", json={**request, "channel": 17}).json() == {
        "error": cli_error("--seed-midi", "piano.mid", "--channel", "17")
    }


def test_midi_downloads_are_the_files_jaki_generate_writes(client, in_tmp):
    request = {"groove": "funk", **STEERED, "tempo": 104, "open_as": "crash"}
    cli_json("--groove", "funk", "--syncopation", "high", "--repetition", "low", "--seed", "7", "--tempo", "104",
             "--open-as", "crash")  # fmt: skip
    document = client.post("/api/generate", json=request).json()
    for role in ("seed", "continuation", "tuned", "loop"):
        answer = client.post(f"/api/midi/{role}", json=request)
        assert answer.status_code == 200 and answer.headers["content-type"] == "audio/midi"
        assert answer.content == (in_tmp / "cli-out" / f"{role}.mid").read_bytes()
    (in_tmp / "loop-download.mid").write_bytes(client.post("/api/midi/loop", json=request).content)
    loop = read_drum_midi(in_tmp / "loop-download.mid")
    assert [bar.pattern.binary().grid_rows() for bar in loop.bars] == [
        document["seed"]["grid"],
        document["tuned"]["grid"],
    ]


def test_the_page_and_its_files_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "jaki studio" in page.text
    assert 'src="/static/vendor/tone/Tone.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from the network
    tone = client.get("/static/vendor/tone/Tone.js")
    assert tone.status_code == 200 and len(tone.content) > 100_000
    assert client.get("/static/vendor/tone/LICENSE.md").text.startswith("MIT License")
    for script in ("studio.js", "drums.js", "studio.css"):
        assert client.get(f"/static/{script}").status_code == 200


def test_setup_holds_the_models_bands_and_the_options(client):
    setup = client.get("/api/setup").json()
    bands = load_model().bands
    assert setup["features"]["syncopation"]["high"] == [
        bands["syncopation"]["high"].lo,
        bands["syncopation"]["high"].hi,
    ]
    assert setup["parts"] == ["kick", "snare", "closed", "open", "toms"]
    assert setup["methods"] == ["agent", "greedy", "random"]
    assert len(setup["accent_velocities"]) == 16


# --- bad input: a 4xx with the CLI's line ------------------------------------------------------------------------
SAME_AS_CLI = [
    ({"seed_grid": "kick x"}, ["--seed-grid", "kick x"]),
    (
        {"seed_grid": "kick ................\nsnare ................"},
        ["--seed-grid", "kick ................\\nsnare ................"],
    ),
    ({"groove": "fnk"}, ["--groove", "fnk"]),
    ({"groove": "rock", "syncopation": "999"}, ["--groove", "rock", "--syncopation", "999"]),
    ({"groove": "rock", "syncopation": "loud"}, ["--groove", "rock", "--syncopation", "loud"]),
    ({"groove": "rock", "repetition": 1.5}, ["--groove", "rock", "--repetition", "1.5"]),
    ({"groove": "rock", "tempo": 500}, ["--groove", "rock", "--tempo", "500"]),
    ({"groove": "rock", "open_as": "cowbell"}, ["--groove", "rock", "--open-as", "cowbell"]),
    ({"groove": "rock", "method": "magic"}, ["--groove", "rock", "--method", "magic"]),
    ({"groove": "rock", "seed": -1}, ["--groove", "rock", "--seed", "-1"]),
    ({"groove": "rock", "seed_grid": "kick x"}, ["--groove", "rock", "--seed-grid", "kick x"]),
    ({"groove": "rock", "keep": ["kick", "cowbell"]}, ["--groove", "rock", "--keep", "kick,cowbell"]),
]


@pytest.mark.parametrize(("request_body", "cli_args"), SAME_AS_CLI, ids=[str(case[0]) for case in SAME_AS_CLI])
def test_bad_generate_input_gets_the_clis_message(client, in_tmp, request_body, cli_args):
    answer = client.post("/api/generate", json=request_body)
    assert answer.status_code == 400
    assert answer.json() == {"error": cli_error(*cli_args)}


def upload_cases(tmp: Path) -> list[tuple[bytes, list[str]]]:
    (tmp / "notes.mid").write_bytes(b"hello, not a MIDI file")
    (tmp / "empty.mid").write_bytes(b"")
    (tmp / "cut.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00")
    return [
        (path.read_bytes(), ["--seed-midi", path.name])
        for path in (tmp / "notes.mid", tmp / "empty.mid", tmp / "cut.mid")
    ]


def test_bad_uploads_get_the_clis_message(client, in_tmp, two_bar_midi):
    cases = [*upload_cases(in_tmp), (two_bar_midi.read_bytes(), ["--seed-midi", "beat.mid", "--bar", "9"])]
    for data, cli_args in cases:
        name = cli_args[1]
        query = f"?name={name}" + (f"&bar={cli_args[3]}" if len(cli_args) > 2 else "")
        answer = client.post(f"/api/seed-from-midi{query}", content=data)
        assert answer.status_code == 400
        assert answer.json() == {"error": cli_error(*cli_args)}
        request = {"seed_midi": base64.b64encode(data).decode(), "seed_midi_name": name}
        if len(cli_args) > 2:
            request["bar"] = int(cli_args[3])
        assert client.post("/api/generate", json=request).json() == {"error": cli_error(*cli_args)}


STUDIO_ONLY = [
    ({"groove": "rock", "bars": "four"}, "--bars 'four': expected a whole number"),
    ({"groove": "rock", "bars": 0}, "--bars 0: expected 1..64"),
    ({"groove": "rock", "bars": 65}, "--bars 65: expected 1..64"),
    ({"groove": "rock", "seed": 1.5}, "--seed 1.5: expected a whole number"),
    ({"groove": "rock", "seed": 2**40}, f"--seed {2**40}: expected 0..4294967295"),
    ({"groove": "rock", "temperature": True}, "--temperature True: expected a number"),
    ({"groove": "rock", "temperature": -1}, "--temperature -1.0: expected 0 (most likely bar) or more, up to 10"),
    ({"groove": "rock", "top_p": 0}, "--top-p 0.0: expected more than 0 and at most 1"),
    ({"groove": "rock", "variations": 33}, "--variations 33: expected 1..32"),
    ({"groove": "rock", "fill": "yes"}, "--fill 'yes': expected true or false"),
    ({"groove": "rock", "swing": 80}, "--swing 80: expected 50 (straight) to 75 percent"),
    ({"groove": "rock", "humanize": 2}, "--humanize 2: expected 0 (the grid) to 1 (the groove model's feel)"),
    ({"groove": "rock", "closeness": -0.5}, "--closeness -0.5: expected 0 or more"),
    ({"groove": "rock", "syncopation": ["high"]}, "--syncopation ['high']: expected a number"),
    ({"groove": 5}, "--groove 5: expected text"),
    ({"groove": "rock", "colour": "blue"}, "request: unknown option 'colour' (expected "),
    ({"groove": "rock", "keep": 3}, "--keep 3: expected part names, e.g. kick,snare"),
    ({"seed_midi": "not base64!"}, "upload.mid: seed_midi is not base64 (expected a MIDI file's bytes)"),
    ({"groove": "rock", "bar": 2}, "bar goes with seed_midi"),
    ({"seed_midi": "TVRoZA==", "drum_map": "/etc/passwd"}, "--drum-map '/etc/passwd': expected gm, td11, bfd3"),
    ({}, "request: no seed (give groove, seed_grid or seed_midi)"),
    ([1, 2], "request: expected a JSON object of generate options"),
]


@pytest.mark.parametrize(("request_body", "message"), STUDIO_ONLY, ids=[str(case[0]) for case in STUDIO_ONLY])
def test_bad_generate_input_gets_one_line(client, request_body, message):
    answer = client.post("/api/generate", json=request_body)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(message)


def test_malformed_bodies_and_routes_get_one_line_and_never_a_traceback(client):
    cases = [
        (client.post("/api/generate", content=b"{not json"), 400, "request: not a JSON document"),
        (
            client.post("/api/generate", content=b'{"groove": "rock", "tempo": NaN}'),
            400,
            "request: not a JSON document",
        ),
        (client.post("/api/generate", content=b"[" * 100_000 + b"]" * 100_000), 400, "request: not a JSON document"),
        (client.post("/api/seed-from-midi?bar=two", content=b"MThd"), 400, "--bar 'two': expected a whole number"),
        (client.post("/api/midi/secret", json={"groove": "rock"}), 404, "no such MIDI file: secret"),
        (client.get("/api/generate"), 405, "Method Not Allowed"),
        (client.get("/api/nothing"), 404, "Not Found"),
        (client.get("/static/../api.py"), 404, "Not Found"),
        (client.get("/static/%2e%2e/api.py"), 404, "no such file: ../api.py"),
    ]
    for answer, status, message in cases:
        assert answer.status_code == status
        error = answer.json()["error"]
        assert error.startswith(message) and "\n" not in error and "Traceback" not in error


def test_oversized_uploads_and_bodies_are_refused_before_reading_them_whole(client):
    config = StudioConfig()
    big = b"MThd" + bytes(config.max_upload_bytes)
    answer = client.post("/api/seed-from-midi?name=huge.mid", content=big)
    assert answer.status_code == 413
    assert answer.json() == {"error": "huge.mid: larger than 1 MiB (expected a drum MIDI file)"}
    huge = b"MThd" + bytes(config.max_body_bytes * 3 // 4)  # over the body limit once in base64
    request = {"seed_midi": base64.b64encode(huge).decode(), "seed_midi_name": "huge.mid"}
    answer_413 = client.post("/api/generate", json=request)
    assert answer_413.status_code == 413 and answer_413.json()["error"] == "request: larger than 2 MiB"
    small = {"seed_midi": base64.b64encode(big[:1_200_000]).decode(), "seed_midi_name": "huge.mid"}
    assert client.post("/api/generate", json=small).json() == answer.json()


def test_upload_names_are_labels_only(client, in_tmp):
    answer = client.post("/api/seed-from-midi?name=../../etc/passwd%0a.mid", content=b"hello")
    assert answer.json() == {"error": "passwd.mid: not a MIDI file (no MThd header)"}
    assert api.upload_name("C:\\music\\beat.mid", StudioConfig()) == "beat.mid"


def test_the_studio_writes_nothing(client, in_tmp, two_bar_midi):
    data = two_bar_midi.read_bytes()
    two_bar_midi.unlink()
    client.post("/api/seed-from-midi?name=beat.mid", content=data)
    request = {"seed_midi": base64.b64encode(data).decode(), **STEERED}
    client.post("/api/generate", json=request)
    client.post("/api/midi/loop", json=request)
    assert list(in_tmp.iterdir()) == []


def test_another_host_name_is_refused(client):
    assert client.get("/api/setup", headers={"host": "evil.example:80"}).status_code == 400


def test_a_bug_is_one_line_500_with_no_traceback(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr("jaki.studio.app.run_generation", broken)
    quiet = TestClient(client.app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    answer = quiet.post("/api/generate", json={"groove": "rock"})
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error (RuntimeError); see the terminal running 'jaki studio'"}
