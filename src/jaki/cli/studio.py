"""``jaki studio``: the browser studio on 127.0.0.1 (Starlette on uvicorn, imported only when it runs)."""

from __future__ import annotations

import socket
import webbrowser
from typing import Annotated

import typer

from jaki.errors import JakiInputError

HOST = "127.0.0.1"  # never another interface: the studio is for the person at this machine


def studio(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (default: a free one).")] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the URL but do not open a browser.")] = False,
) -> None:
    """Open the studio in your browser: click a beat, steer it, hear it, download the MIDI (Ctrl-C stops it)."""
    import torch
    import uvicorn

    from jaki.studio.app import create_app
    from jaki.weights import load_model

    torch.set_num_threads(1)  # one pattern at a time, as in 'jaki generate'
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse the port at once
    try:
        listener.bind((HOST, port))
    except OSError as error:
        listener.close()
        raise JakiInputError(f"--port {port}: cannot listen on {HOST} ({error.strerror or error})") from None
    app = create_app(load_model())
    listener.listen(128)  # connections wait here until uvicorn accepts them, so the browser may open at once
    url = f"http://{HOST}:{listener.getsockname()[1]}/"
    typer.echo(f"jaki studio: {url}  (Ctrl-C to stop)")
    if not no_browser:
        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.run(sockets=[listener])
