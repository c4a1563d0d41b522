"""The command table of jaki.cli.main: every command loads on demand, and the light ones never import torch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jaki.cli.main import COMMANDS, app, load_command
from jaki.errors import JakiInputError
from jaki.midi import write_drum_midi

HEAVY = ("torch", "scipy", "gymnasium", "matplotlib")
runner = CliRunner()


def imported_after(*args: str) -> list[str]:
    """The heavy packages in sys.modules of a fresh interpreter after importing the app and running ``args``."""
    script = (
        "import json, sys\n"
        "from jaki.cli.main import app\n"
        f"if {list(args)!r}:\n"
        "    try:\n"
        f"        app({list(args)!r}, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} & {set(HEAVY)!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_library():
    assert imported_after() == []


@pytest.mark.parametrize("args", [["--help"], ["grooves"], ["generate", "--help"]])
def test_help_and_grooves_import_no_heavy_library(args):
    assert imported_after(*args) == []


def test_analyze_imports_no_heavy_library(tmp_path, pattern_a):
    path = tmp_path / "a.mid"
    write_drum_midi(pattern_a, path)
    assert imported_after("analyze", str(path), "--json") == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_loads_under_its_name_and_shows_its_help(name):
    command = load_command(name)
    assert command.name == name and command.short_help == COMMANDS[name][1]
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"jaki {name}" in result.output


def test_the_listing_shows_every_command_with_its_summary():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, (_, summary) in COMMANDS.items():
        assert any(line.split()[1:2] == [name] and summary in line for line in result.output.splitlines()), name


def test_a_mistyped_command_is_one_error_line_with_a_suggestion():
    result = runner.invoke(app, ["genrate"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: No such command 'genrate'. Did you mean 'generate'? (see 'jaki --help')"


@pytest.mark.parametrize("delay", [0.2, 0.5, 1.0])
def test_ctrl_c_while_starting_prints_no_traceback(tmp_path, delay):
    """SIGINT at different moments of start-up (the app's and the command's imports, the model loading): never a
    traceback. (The first few milliseconds belong to the interpreter and pip's script wrapper, before jaki runs.)"""
    jaki = Path(sys.executable).with_name("jaki")
    process = subprocess.Popen(
        [str(jaki), "generate", "--groove", "funk", "--seed", "1", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["dataset", "build", "--help"]])
def test_flags_show_no_value_type(args):
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--help" in result.output
    assert "<bool>" not in result.output


def test_generate_help_names_every_built_in_drum_map():
    result = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"})
    assert "drum map gm, td11, bfd3 or a .toml/.json file" in result.output


def warns_then_fails(fail: bool = True) -> None:
    """A stand-in command: a library warning on the way, then bad input (or a result)."""
    warnings.warn("numpy: invalid value encountered", RuntimeWarning, stacklevel=1)
    if fail:
        raise JakiInputError("x.mid: bad input")
    print("done")


def test_stderr_on_exit_2_is_the_error_line_alone(monkeypatch):
    """A warning raised on the way to bad input is dropped; after a result it is shown (held to the end)."""
    monkeypatch.setitem(COMMANDS, "noisy", ("test_cli_main:warns_then_fails", "A stand-in."))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        failed = runner.invoke(app, ["noisy", "--fail"])
    assert failed.exit_code == 2 and failed.stderr == "error: x.mid: bad input\n" and shown == []
    with pytest.warns(RuntimeWarning, match="invalid value encountered"):
        done = runner.invoke(app, ["noisy", "--no-fail"])
    assert done.exit_code == 0 and done.stdout == "done\n"
