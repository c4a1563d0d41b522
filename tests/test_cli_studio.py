"""``jaki studio``: it serves on 127.0.0.1, prints the URL, opens the browser unless told not to, and stays out of
``jaki --help``'s imports."""

import os
import signal
import socket
import subprocess
import sys

import httpx2
import pytest
from typer.testing import CliRunner

from jaki.cli.main import app

runner = CliRunner()


def test_studio_serves_the_page_on_localhost_and_prints_its_url():
    command = [sys.executable, "-c", "from jaki.cli import run; run()", "studio", "--no-browser"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("jaki studio: http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[2]
        assert httpx2.get(url, timeout=30).status_code == 200
        assert httpx2.get(f"{url}api/grooves", timeout=30).json()[0]["name"]
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down, then exits as interrupted
        _, errors = process.communicate(timeout=30)
    assert process.returncode in (0, 128 + signal.SIGINT)
    assert "Traceback" not in errors


def test_studio_opens_the_browser_unless_told_not_to(monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    monkeypatch.setattr("uvicorn.Server.run", lambda self, sockets: None)
    assert runner.invoke(app, ["studio"]).exit_code == 0
    assert len(opened) == 1 and opened[0].startswith("http://127.0.0.1:")
    assert runner.invoke(app, ["studio", "--no-browser"]).exit_code == 0
    assert len(opened) == 1


def test_a_port_in_use_is_one_error_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["studio", "--no-browser", "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --port {port}: cannot listen on 127.0.0.1 (Address already in use)"


@pytest.mark.parametrize("module", ["starlette", "uvicorn", "jaki.studio.app"])
def test_the_cli_imports_the_web_stack_only_when_the_studio_runs(module):
    code = f"import sys, jaki.cli.main; sys.exit({module!r} in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ}).returncode == 0
