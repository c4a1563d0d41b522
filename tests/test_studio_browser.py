"""The studio driven in a real browser: Debian's Chromium, headless, through Selenium and the system chromedriver.

What a new user does: load the page, click a beat, ask for high syncopation and low repetition, generate, check the
grids against the API, press Play and check that audio is running and the loop's hits are scheduled, download the
MIDI and read it back, and a screenshot that is not blank. Skipped, with the reason, where Chromium is missing
(``apt-get install chromium chromium-driver``; CI's .ci/run installs them). Nothing downloads a browser or a driver.
"""

from __future__ import annotations

import base64
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx2
import numpy as np
import pytest

from jaki.midi import read_drum_midi, write_drum_midi
from jaki.pattern import Pattern
from jaki.studio.app import create_app
from jaki.weights import load_model

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1366,768",
)
WAIT_S = 30.0

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    missing = (
        "Chromium is not installed (apt-get install chromium chromium-driver): the browser tests need "
        f"{CHROMIUM} and {CHROMEDRIVER}"
    )
    if os.environ.get("JAKI_REQUIRE_BROWSER"):  # CI installs Chromium: a skip there would hide a broken install
        pytest.fail(missing, pytrace=False)
    pytest.skip(missing, allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

SEED = """
kick   x.......x.x.....
snare  ....x.......x...
closed x.x.x.x.x.x.x.x.
open   ................
toms   ................
"""


@pytest.fixture(scope="module")
def studio_url():
    """The studio served by uvicorn on a free port of 127.0.0.1, in a thread, as 'jaki studio' serves it."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(load_model()), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture(scope="module")
def downloads() -> Path:
    with tempfile.TemporaryDirectory(prefix="jaki-studio-downloads-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.TemporaryDirectory(prefix="jaki-studio-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile.name}"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()
    profile.cleanup()


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def open_page(browser, url: str) -> None:
    browser.get(url)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#seed-grid .cell"), "the seed grid")
    wait_for(lambda: "seed:" in browser.find_element(By.ID, "status").text, "the first groove")


def seed_cell(browser, part: str, step: int):
    return browser.find_element(By.CSS_SELECTOR, f'#seed-grid .cell[data-part="{part}"][data-step="{step}"]')


def page_grids(browser, title: str) -> list[dict[str, str]]:
    """The grid rows a result column shows, bar by bar, read from the cells drawn."""
    script = """
        return [...document.querySelectorAll(`#patterns [data-pattern="${arguments[0]}"] .grid`)].map((grid) => {
            const rows = {};
            for (const cell of grid.querySelectorAll(".cell")) {
                rows[cell.dataset.part] = (rows[cell.dataset.part] || "") + (cell.classList.contains("on") ? "x" : ".");
            }
            return rows;
        });
    """
    return browser.execute_script(script, title)


def bars_of(pattern: dict) -> list[dict[str, str]]:
    return [bar["grid"] for bar in pattern["bars"]] if "bars" in pattern else [pattern["grid"]]


def click_beat(browser, pattern: Pattern) -> None:
    browser.find_element(By.ID, "clear").click()
    for step, part in np.argwhere(pattern.hits):
        seed_cell(browser, ("kick", "snare", "closed", "open", "toms")[part], int(step)).click()


def test_click_a_beat_steer_it_hear_it_and_take_the_midi(browser, studio_url, downloads, tmp_path):
    open_page(browser, studio_url)
    seed = Pattern.from_grid(SEED)
    click_beat(browser, seed)
    assert seed_cell(browser, "kick", 10).get_attribute("aria-pressed") == "true"
    assert seed_cell(browser, "kick", 11).get_attribute("aria-pressed") == "false"
    Select(browser.find_element(By.NAME, "syncopation")).select_by_value("high")
    Select(browser.find_element(By.NAME, "repetition")).select_by_value("low")
    browser.find_element(By.NAME, "seed").send_keys("7")
    browser.find_element(By.ID, "generate").click()
    wait_for(lambda: "generated" in browser.find_element(By.ID, "status").text, "the generation")

    tempo = float(browser.find_element(By.ID, "tempo").get_attribute("value"))
    request = {"seed_grid": seed.to_grid(), "syncopation": "high", "repetition": "low", "seed": 7, "tempo": tempo}
    answer = httpx2.post(f"{studio_url}/api/generate", json=request, timeout=WAIT_S).json()
    shown = browser.execute_script("return jakiStudio.document()")
    assert {**shown, "timing_ms": None} == {**answer, "timing_ms": None}
    for title in ("seed", "continuation", "tuned"):
        assert page_grids(browser, title) == bars_of(answer[title]), title
    assert page_grids(browser, "seed") == [seed.grid_rows()]
    rows = {
        row.find_element(By.TAG_NAME, "th").text: [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#features tbody tr")
    }
    syncopation = answer["targets"]["syncopation"]
    assert rows["syncopation"][2] == f"{answer['tuned']['features']['syncopation']:g}"
    assert rows["syncopation"][3].startswith("high") and rows["syncopation"][4] == (
        "yes" if syncopation["met"] else "no"
    )
    assert "2 of 2 targets met" in browser.find_element(By.ID, "status").text

    # Play: the AudioContext runs and one pass of the loop schedules exactly its hits (seed bar, then the tuned bar).
    browser.find_element(By.ID, "play").click()
    wait_for(lambda: browser.execute_script("return jakiStudio.audioState()") == "running", "the AudioContext")
    loop = [answer["seed"]["grid"], *bars_of(answer["tuned"])]
    expected = {
        (b * 16 + step, part)
        for b, rows_ in enumerate(loop)
        for part, row in rows_.items()
        for step, c in enumerate(row)
        if c == "x"
    }
    n_steps = 16 * len(loop)
    wait_for(lambda: browser.execute_script("return jakiStudio.steps") > n_steps, "one pass of the loop and a step")
    notes = browser.execute_script("return jakiStudio.scheduled")
    first_pass = [note for note in notes if note["pass"] == 0]
    assert {(note["step"], note["part"]) for note in first_pass} == expected
    assert len(first_pass) == len(expected)
    assert notes[-1]["time"] > notes[0]["time"]
    assert [note["velocity"] for note in first_pass] == [
        played_velocity(answer, note, studio_url) for note in first_pass
    ]
    assert {(n["step"], n["part"]) for n in notes if n["pass"] == 1} <= expected  # the loop starts again
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#patterns .cell.now"), "the playing step's highlight")
    assert browser.find_element(By.ID, "play").get_attribute("aria-pressed") == "true"

    # Download the loop's MIDI and read it back with jaki's reader.
    browser.find_element(By.CSS_SELECTOR, '[data-download="loop"]').click()
    loop_file = wait_for(lambda: next(iter(downloads.glob("loop*.mid")), None), "loop.mid to download")
    time.sleep(0.3)  # the browser renames the finished download into place
    read = read_drum_midi(loop_file)
    assert [bar.pattern.binary().grid_rows() for bar in read.bars] == loop
    assert read.bars[0].tempo_bpm == pytest.approx(float(browser.find_element(By.ID, "tempo").get_attribute("value")))

    screenshot = tmp_path / "studio.png"
    assert browser.save_screenshot(str(screenshot))
    assert_not_blank(screenshot)
    browser.find_element(By.ID, "play").click()
    assert browser.find_element(By.ID, "play").text == "Play"


def played_velocity(document: dict, note: dict, studio_url: str) -> float:
    """The velocity a hit should sound at: the feel's (the groove model's, as written to MIDI) or jaki's accent."""
    bar, step = divmod(note["step"], 16)
    feel = document.get("feel")
    if feel:
        hits = feel["seed"] if bar == 0 else feel["tuned"]
        at = step if bar == 0 else (bar - 1) * 16 + step
        velocity = next(h["velocity"] for h in hits if h["step"] == at and h["part"] == note["part"])
        if velocity is not None:
            return velocity / 127
    return httpx2.get(f"{studio_url}/api/setup").json()["accent_velocities"][step] / 127


def assert_not_blank(png: Path) -> None:
    """A real page: many colours, the part colours of the grids among them, and no single colour covering it all."""
    from matplotlib.image import imread

    pixels = (imread(png)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colours) > 50 and counts.max() < 0.9 * len(pixels)
    kick = np.array([0xEF, 0x63, 0x51])  # --kick in studio.css
    assert (np.abs(pixels - kick).sum(axis=1) < 12).sum() > 100


def test_the_seed_grid_and_the_targets_work_from_the_keyboard(browser, studio_url):
    open_page(browser, studio_url)
    browser.find_element(By.ID, "clear").click()
    first = seed_cell(browser, "kick", 0)
    assert first.get_attribute("tabindex") == "0" and first.tag_name == "button"
    first.send_keys(Keys.SPACE)
    assert first.get_attribute("aria-pressed") == "true"
    first.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_DOWN)
    focused = browser.switch_to.active_element
    assert (focused.get_attribute("data-part"), focused.get_attribute("data-step")) == ("snare", "1")
    focused.send_keys(Keys.ENTER)
    assert seed_cell(browser, "snare", 1).get_attribute("aria-pressed") == "true"
    labels = browser.execute_script(
        "return [...document.querySelectorAll('#steer select, #steer input')].map((c) => c.labels.length)"
    )
    assert labels and all(count == 1 for count in labels)
    names = browser.execute_script("return [...document.querySelectorAll('#targets select')].map((s) => s.name)")
    assert names == ["cymbal_density", "drum_density", "syncopation", "repetition"]


DROP_FILE = """
const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], arguments[1], { type: "audio/midi" }));
document.querySelector("main").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
"""


def test_a_midi_file_seeds_the_grid_and_bad_files_get_the_clis_message(
    browser, studio_url, tmp_path, pattern_a, pattern_b
):
    open_page(browser, studio_url)
    midi = tmp_path / "two-bars.mid"
    write_drum_midi(Pattern.concat([pattern_a, pattern_b]), midi, tempo_bpm=92)
    browser.find_element(By.ID, "midi-file").send_keys(str(midi))
    wait_for(lambda: "two-bars.mid bar 1" in browser.find_element(By.ID, "status").text, "the MIDI seed")
    assert browser.execute_script("return document.querySelector('#tempo').value") == "92"
    Select(browser.find_element(By.ID, "midi-bar")).select_by_value("2")
    browser.find_element(By.ID, "generate").click()
    wait_for(lambda: "generated" in browser.find_element(By.ID, "status").text, "the generation")
    document = browser.execute_script("return jakiStudio.document()")
    assert document["seed"]["source"] == "two-bars.mid bar 2"
    assert page_grids(browser, "seed") == [pattern_b.grid_rows()]

    # Dropping the file on the page does the same (a drop event carrying it, as a drag from a DAW would).
    Select(browser.find_element(By.ID, "groove")).select_by_value("rock")
    browser.execute_script(DROP_FILE, base64.b64encode(midi.read_bytes()).decode(), "dropped.mid")
    wait_for(lambda: "dropped.mid bar 1" in browser.find_element(By.ID, "status").text, "the dropped MIDI seed")
    assert browser.execute_script("return document.querySelector('#midi-bar').options.length") == 2

    bad = tmp_path / "notes.mid"
    bad.write_bytes(b"not a MIDI file")
    browser.find_element(By.ID, "midi-file").send_keys(str(bad))
    expected = "error: notes.mid: not a MIDI file (no MThd header)"
    wait_for(lambda: browser.find_element(By.ID, "error").text == expected, expected)
    Select(browser.find_element(By.ID, "groove")).select_by_value("rock")
    Select(browser.find_element(By.NAME, "syncopation")).select_by_value("high")
    tempo = browser.find_element(By.ID, "tempo")
    tempo.clear()
    tempo.send_keys("900")
    browser.find_element(By.ID, "generate").click()
    expected = "error: --tempo 900: expected 20..400 BPM"
    wait_for(lambda: browser.find_element(By.ID, "error").text == expected, expected)


def test_variations_and_kept_parts_are_offered_shown_and_downloaded_one_by_one(browser, studio_url, downloads):
    open_page(browser, studio_url)
    Select(browser.find_element(By.ID, "groove")).select_by_value("funk")
    for name, value in (("variations", "3"), ("temperature", "1"), ("seed", "5")):
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.NAME, "fill").click()
    for part in ("kick", "snare"):
        browser.find_element(By.CSS_SELECTOR, f'#keep input[value="{part}"]').click()
    Select(browser.find_element(By.NAME, "drum_density")).select_by_value("high")
    browser.find_element(By.ID, "generate").click()
    wait_for(lambda: "3 variations" in browser.find_element(By.ID, "status").text, "three variations")
    document = browser.execute_script("return jakiStudio.document()")
    for variation in document["variations"]:  # the kept parts are the continuation's, untouched by the tuner
        assert all(variation["tuned"]["grid"][p] == variation["continuation"]["grid"][p] for p in ("kick", "snare"))
    choice = Select(browser.find_element(By.ID, "variation"))
    assert len(choice.options) == 3 and browser.find_element(By.ID, "variation-choice").is_displayed()
    choice.select_by_value("1")
    second = document["variations"][1]
    assert page_grids(browser, "tuned") == bars_of(second["tuned"])
    for old in downloads.glob("tuned*.mid"):
        old.unlink()
    browser.find_element(By.CSS_SELECTOR, '[data-download="tuned"]').click()
    tuned_file = wait_for(lambda: next(iter(downloads.glob("tuned*.mid")), None), "tuned.mid to download")
    time.sleep(0.3)
    assert [bar.pattern.binary().grid_rows() for bar in read_drum_midi(tuned_file).bars] == bars_of(second["tuned"])


RENDER_VOICES = """
const done = arguments[arguments.length - 1];
(async () => {
  const render = async (hits) => {
    const buffer = await Tone.Offline(() => {
      const kit = JakiDrums.createKit();
      for (const [part, time, openAs] of hits) kit.trigger(part, time, 1.0, openAs);
    }, 1.0, 1, 44100);
    return Array.from(buffer.getChannelData(0));
  };
  const sounds = {};
  for (const part of ["kick", "snare", "closed", "toms"]) sounds[part] = await render([[part, 0.01]]);
  sounds.hihat = await render([["open", 0.01, "hihat"]]);
  sounds.crash = await render([["open", 0.01, "crash"]]);
  sounds.choked = await render([["open", 0.01, "hihat"], ["closed", 0.1]]);
  sounds.all = await render(["kick", "snare", "closed", "open", "toms"].map((part) => [part, 0.01, "crash"]));
  done(sounds);
})().catch((error) => done({ error: String(error) }));
"""


def test_the_kit_sounds_like_a_drum_kit(browser, studio_url):
    """Each voice rendered offline by the page's own kit: low drums low, cymbals bright, a closed hi-hat short, an
    open one longer and choked by the closed one, a crash longest, and all five at once never clipping."""
    open_page(browser, studio_url)
    browser.set_script_timeout(WAIT_S)
    sounds = browser.execute_async_script(RENDER_VOICES)
    assert "error" not in sounds, sounds.get("error")
    rate = 44100

    def measure(name: str) -> tuple[float, float, float]:
        """Dominant frequency and spectral centroid in Hz, and seconds until the level stays under 10 % of its peak."""
        x = np.asarray(sounds[name])
        spectrum, freqs = np.abs(np.fft.rfft(x)), np.fft.rfftfreq(len(x), 1 / rate)
        loud = np.flatnonzero(np.abs(x) > 0.1 * np.abs(x).max())
        return freqs[spectrum.argmax()], (spectrum * freqs).sum() / spectrum.sum(), loud[-1] / rate

    kick, toms, snare = measure("kick"), measure("toms"), measure("snare")
    closed, hihat, crash = measure("closed"), measure("hihat"), measure("crash")
    assert kick[0] < 120 and kick[0] < toms[0] < 300  # a kick below the tom, both drums
    assert 2000 < snare[1] < 9000 and snare[2] < 0.3
    assert min(closed[1], hihat[1], crash[1]) > 8000  # cymbals are bright
    assert closed[2] < 0.1 and hihat[2] > 2 * closed[2] and crash[2] > hihat[2]
    choked = np.abs(np.asarray(sounds["choked"])[int(0.25 * rate) :]).max()
    assert choked < 0.2 * np.abs(np.asarray(sounds["hihat"])[int(0.25 * rate) :]).max()
    assert np.abs(np.asarray(sounds["all"])).max() <= 1.0
