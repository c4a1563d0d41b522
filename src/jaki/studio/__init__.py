"""``jaki studio``: make, hear and steer a groove in the browser.

:mod:`jaki.studio.api` turns request documents into library calls (the same ones ``jaki generate`` makes);
:mod:`jaki.studio.app` serves them and the page (``static/``: plain HTML, CSS and JavaScript, with Tone.js
vendored from npm for the sound) over Starlette; ``jaki studio`` runs it on 127.0.0.1 with uvicorn.
"""
