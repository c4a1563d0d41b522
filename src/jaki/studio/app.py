"""The studio's ASGI app (Starlette): the page, its files, and the JSON API of :mod:`jaki.studio.api`.

Every answer to bad input is a 4xx whose body is ``{"error": "<the CLI's one line>"}``; an unexpected exception
is logged here (it is a bug) and the page gets one line, never a traceback. Request bodies are read up to a limit
and never stored; the page's files are read from the package once, at start-up, so a request path is only ever a
key into that table. Generation runs one at a time in a worker thread, off the event loop.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jaki.errors import JakiInputError
from jaki.generate import draw_seed_value, variations_document
from jaki.studio.api import (
    MIDI_ROLES,
    StudioConfig,
    UploadTooLarge,
    body_too_large,
    grooves_document,
    midi_bytes,
    midi_seed_document,
    parse_generate_request,
    run_generation,
    setup_document,
    upload_name,
    upload_too_large,
)
from jaki.weights import LoadedModel

LOG = logging.getLogger("jaki.studio")
LOCAL_HOSTS = ("127.0.0.1", "localhost")  # the Host headers accepted: no other site's name may reach the app


def create_app(
    model: LoadedModel, config: StudioConfig | None = None, *, allowed_hosts: Sequence[str] = LOCAL_HOSTS
) -> Starlette:
    """The app serving ``model``; ``allowed_hosts`` guards against DNS rebinding (tests add their client's host)."""
    config = config or StudioConfig()
    files = _static_files()
    setup = setup_document(model)
    lock = threading.Lock()  # one generation at a time: torch runs on one thread, as in 'jaki generate'

    def generated(body):
        request = parse_generate_request(body, config, draw_seed_value())
        with lock:
            return request, run_generation(request, model)

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in files:
            raise HTTPException(404, f"no such file: {name}")
        return Response(files[name], media_type=mimetypes.guess_type(name)[0] or "application/octet-stream")

    async def get_setup(request: Request) -> Response:
        return JSONResponse(setup)

    async def get_grooves(request: Request) -> Response:
        return JSONResponse(grooves_document())

    async def post_generate(request: Request) -> Response:
        body = await _json_body(request, config)
        generation_request, generations = await run_in_threadpool(generated, body)
        return _json(variations_document(generations, asked=generation_request.variations))

    async def post_midi(request: Request) -> Response:
        role = request.path_params["role"]
        if role not in MIDI_ROLES:
            raise HTTPException(404, f"no such MIDI file: {role} (expected {', '.join(MIDI_ROLES)})")
        variation = request.query_params.get("variation", "1")
        if not variation.isdigit() or int(variation) < 1:
            raise JakiInputError(f"variation {variation!r}: expected 1, 2, …")
        body = await _json_body(request, config)
        generation_request, generations = await run_in_threadpool(generated, body)
        if int(variation) > len(generations):
            raise JakiInputError(f"variation {variation}: this request gives {len(generations)}")
        data = midi_bytes(generations[int(variation) - 1], generation_request, role)
        return Response(
            data, media_type="audio/midi", headers={"Content-Disposition": f'attachment; filename="{role}.mid"'}
        )

    async def post_seed_from_midi(request: Request) -> Response:
        query = request.query_params
        name = upload_name(query.get("name"), config)
        data = await _read_body(request, config.max_upload_bytes, upload_too_large(name, config))
        bar, channel = _query_whole(query, "bar"), _query_whole(query, "channel")
        document = await run_in_threadpool(midi_seed_document, data, name, bar, query.get("drum_map"), channel, config)
        return _json(document)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/static/{name:path}", page),
            Route("/api/setup", get_setup, methods=["GET"]),
            Route("/api/grooves", get_grooves, methods=["GET"]),
            Route("/api/generate", post_generate, methods=["POST"]),
            Route("/api/midi/{role}", post_midi, methods=["POST"]),
            Route("/api/seed-from-midi", post_seed_from_midi, methods=["POST"]),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
        exception_handlers={JakiInputError: _input_error, HTTPException: _http_error, Exception: _bug},
    )


def _static_files() -> dict[str, bytes]:
    """Every file under ``jaki/studio/static`` by its path there, read once ("index.html", "vendor/tone/Tone.js")."""
    found: dict[str, bytes] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            else:
                found[prefix + entry.name] = entry.read_bytes()

    walk(resources.files("jaki.studio").joinpath("static"), "")
    return found


async def _read_body(request: Request, limit: int, too_large: UploadTooLarge) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes, whatever Content-Length says."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


async def _json_body(request: Request, config: StudioConfig) -> object:
    data = await _read_body(request, config.max_body_bytes, body_too_large(config))
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise JakiInputError(f"request: not a JSON document ({error})") from None


def _query_whole(query, name: str) -> int | None:
    text = query.get(name)
    if text is None:
        return None
    if not text.isdigit():
        raise JakiInputError(f"--{name} {text!r}: expected a whole number")
    return int(text)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _json(document: object) -> Response:
    return Response(json.dumps(document, allow_nan=False), media_type="application/json")


async def _input_error(request: Request, error: Exception) -> Response:
    return JSONResponse({"error": str(error)}, status_code=413 if isinstance(error, UploadTooLarge) else 400)


async def _http_error(request: Request, error: HTTPException) -> Response:
    return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)


async def _bug(request: Request, error: Exception) -> Response:
    LOG.exception("studio: %s %s failed", request.method, request.url.path)
    return JSONResponse(
        {"error": f"internal error ({type(error).__name__}); see the terminal running 'jaki studio'"}, 500
    )
