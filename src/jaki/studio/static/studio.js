// The studio page: a seed editor, the steering form, the result grids, the player and the downloads.
// Everything it knows about jaki (parts, features, bands, options, accents) comes from /api/setup; every number
// it shows comes from the generate document, the same one `jaki generate --json` prints.
"use strict";

(() => {
  const STEPS = 16;
  const $ = (selector) => document.querySelector(selector);
  const state = {
    setup: null,
    grooves: [],
    seed: [], // seed[part][step]: booleans, the editor's bar
    origin: { kind: "grid" }, // where the editor's bar came from: a groove, a MIDI file, or clicks
    midiFile: null, // the last MIDI file read: { file, base64, bars }
    request: null, // the generate request of the result shown
    document: null, // the generate document shown (with its variations, when several were asked for)
    variation: 0, // which of them is shown, played and downloaded
  };
  // For tests and the curious: the audio state and every note the player has scheduled.
  // `steps` counts the steps the sequence has scheduled; each note says in which pass of the loop it sounds.
  const hook = { scheduled: [], steps: 0, audioState: () => Tone.getContext().state, document: () => state.document };
  window.jakiStudio = hook;

  // --- messages ---------------------------------------------------------------------------------------------------
  function say(text) {
    $("#status").textContent = text;
  }

  function showError(text) {
    const box = $("#error");
    box.textContent = text ? `error: ${text}` : "";
    box.hidden = !text;
  }

  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      throw new Error(`the studio is not answering (${error.message}); is 'jaki studio' still running?`);
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        message = (await response.json()).error || message;
      } catch (_) { /* not JSON: keep the status line */ }
      throw new Error(message);
    }
    return response;
  }

  // --- the seed editor --------------------------------------------------------------------------------------------
  function buildSeedGrid() {
    const grid = $("#seed-grid");
    grid.replaceChildren();
    state.seed = state.setup.parts.map(() => Array(STEPS).fill(false));
    state.setup.parts.forEach((part, p) => {
      const label = document.createElement("span");
      label.className = "part-label";
      label.textContent = part;
      grid.append(label);
      for (let step = 0; step < STEPS; step++) {
        const cell = document.createElement("button");
        cell.type = "button";
        cell.className = `cell part-${part}${offBeat(step)}`;
        cell.dataset.part = part;
        cell.dataset.step = String(step);
        cell.setAttribute("aria-label", `${part} step ${step + 1}`);
        cell.setAttribute("aria-pressed", "false");
        cell.tabIndex = p === 0 && step === 0 ? 0 : -1;
        cell.addEventListener("click", () => {
          setCell(p, step, !state.seed[p][step]);
          state.origin = { kind: "grid" };
          $("#groove").value = "";
          describeSeed();
        });
        cell.addEventListener("keydown", (event) => moveFocus(event, p, step));
        grid.append(cell);
      }
    });
  }

  function offBeat(step) {
    return Math.floor(step / 4) % 2 ? " off-beat" : "";
  }

  function seedCell(p, step) {
    return $(`#seed-grid .cell[data-part="${state.setup.parts[p]}"][data-step="${step}"]`);
  }

  function setCell(p, step, on) {
    state.seed[p][step] = on;
    const cell = seedCell(p, step);
    cell.classList.toggle("on", on);
    cell.setAttribute("aria-pressed", String(on));
  }

  function moveFocus(event, p, step) {
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const [dp, ds] = moves[event.key];
    const parts = state.setup.parts.length;
    const next = seedCell((p + dp + parts) % parts, (step + ds + STEPS) % STEPS);
    seedCell(p, step).tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  }

  function setSeedRows(rows) {
    state.setup.parts.forEach((part, p) => {
      for (let step = 0; step < STEPS; step++) setCell(p, step, rows[part][step] === "x");
    });
  }

  function seedGridText() {
    return state.setup.parts
      .map((part, p) => `${part} ${state.seed[p].map((on) => (on ? "x" : ".")).join("")}`)
      .join("\n");
  }

  function describeSeed() {
    const hits = state.seed.flat().filter(Boolean).length;
    const from = { groove: `groove '${state.origin.name}'`, midi: `${state.origin.name} bar ${state.origin.bar}`,
      grid: "your grid" }[state.origin.kind];
    say(`seed: ${from}, ${hits} hits`);
  }

  function loadGroove(name) {
    const groove = state.grooves.find((g) => g.name === name);
    if (!groove) return;
    setSeedRows(groove.grid);
    $("#tempo").value = String(groove.tempo);
    state.origin = { kind: "groove", name };
    describeSeed();
  }

  // --- MIDI seeds: the file's bytes go to the API; nothing is named by path -------------------------------------
  async function readMidi(file) {
    showError("");
    const bytes = new Uint8Array(await file.arrayBuffer());
    const drumMap = $("#drum-map").value;
    const channel = $("#channel").value;
    const query = new URLSearchParams({
      name: file.name, ...(drumMap ? { drum_map: drumMap } : {}), ...(channel ? { channel } : {}),
    });
    try {
      const response = await api(`/api/seed-from-midi?${query}`, {
        method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: bytes,
      });
      const document_ = await response.json();
      state.midiFile = { file, base64: toBase64(bytes), bars: document_.bars, drumMap, channel };
      const select = $("#midi-bar");
      select.replaceChildren(...document_.bars.map((bar) => new Option(`bar ${bar.bar}`, String(bar.bar))));
      select.value = String(document_.bar);
      select.disabled = false;
      chooseMidiBar(document_.bar);
    } catch (error) {
      showError(error.message);
    }
  }

  function chooseMidiBar(number) {
    const bar = state.midiFile.bars.find((b) => b.bar === number);
    setSeedRows(bar.grid);
    $("#tempo").value = String(Math.round(bar.tempo * 10) / 10);
    $("#groove").value = "";
    state.origin = {
      kind: "midi", name: state.midiFile.file.name, bar: number,
      base64: state.midiFile.base64, drumMap: state.midiFile.drumMap, channel: state.midiFile.channel,
    };
    describeSeed();
  }

  function toBase64(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }

  // --- the steering form ------------------------------------------------------------------------------------------
  function buildControls() {
    const { features, levels, methods, open_as: openAs, drum_maps: drumMaps, limits } = state.setup;
    const targets = $("#targets");
    for (const [feature, bands] of Object.entries(features)) {
      const label = document.createElement("label");
      label.textContent = feature.replace("_", " ");
      const select = document.createElement("select");
      select.name = feature;
      select.append(new Option("skip", ""));
      for (const level of levels) {
        const [lo, hi] = bands[level];
        select.append(new Option(`${level}  ${number(lo)}–${number(hi)}`, level));
      }
      label.append(select);
      targets.append(label);
    }
    fill($('#steer select[name="method"]'), methods);
    fill($("#open-as"), openAs);
    fill($("#drum-map"), drumMaps);
    $("#drum-map").prepend(new Option("auto", ""));
    $("#drum-map").value = "";
    fill($("#channel"), Array.from({ length: 16 }, (_, i) => String(i + 1)));
    $("#channel").prepend(new Option("auto", ""));
    $("#channel").value = "";
    for (const part of state.setup.parts) {
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      Object.assign(box, { type: "checkbox", name: "keep", value: part });
      box.dataset.list = "";
      label.append(box, ` ${part}`);
      $("#keep").append(label);
    }
    $('#steer input[name="bars"]').max = String(limits.bars[1]);
    $('#steer input[name="variations"]').max = String(limits.variations[1]);
    $('#steer input[name="temperature"]').placeholder = `model's: ${state.setup.defaults.temperature}`;
    $('#steer input[name="top_p"]').placeholder = `model's: ${state.setup.defaults.top_p}`;
    $('#steer input[name="seed"]').max = String(limits.seed[1]);
  }

  function fill(select, values) {
    select.replaceChildren(...values.map((value) => new Option(value, value)));
  }

  function number(value) {
    return Number.isInteger(value) ? String(value) : value.toPrecision(3).replace(/\.?0+$/, "");
  }

  // Every named field of the form is the generate option of that name: blank fields are left out (the CLI's default).
  function formOptions() {
    const options = {};
    for (const field of $("#steer").elements) {
      if (!field.name || field.disabled || field.value === "") continue;
      if (field.type === "checkbox" && field.dataset.list !== undefined) {
        if (field.checked) (options[field.name] ||= []).push(field.value); // a set of parts, say
      } else if (field.type === "checkbox") {
        if (field.checked) options[field.name] = true;
      } else {
        options[field.name] = field.type === "number" ? Number(field.value) : field.value;
      }
    }
    return options;
  }

  function generateRequest() {
    const request = formOptions();
    if (state.origin.kind === "groove") {
      request.groove = state.origin.name;
    } else if (state.origin.kind === "midi") {
      Object.assign(request, {
        seed_midi: state.origin.base64, seed_midi_name: state.origin.name,
        bar: state.origin.bar, drum_map: state.origin.drumMap || undefined,
        channel: state.origin.channel ? Number(state.origin.channel) : undefined,
      });
    } else {
      request.seed_grid = seedGridText();
    }
    return request;
  }

  async function generate(event) {
    event.preventDefault();
    showError("");
    const request = generateRequest();
    const button = $("#generate");
    button.disabled = true;
    say("generating…");
    try {
      const response = await api("/api/generate", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request),
      });
      const document_ = await response.json();
      state.document = document_;
      state.request = { ...request, seed: document_.seed_value }; // the downloads regenerate exactly this
      state.variation = 0;
      const variations = document_.variations || [document_];
      const choice = $("#variation");
      choice.replaceChildren(...variations.map((v) =>
        new Option(`${v.rank} of ${variations.length} (log p ${v.log_likelihood.toFixed(1)})`, String(v.rank - 1))));
      $("#variation-choice").hidden = !document_.variations;
      showResult(shown());
      const met = Object.values(document_.targets).filter((t) => t.met).length;
      const asked = Object.keys(document_.targets).length;
      const several = document_.variations ? `, ${variations.length} variations` : "";
      say(`generated with random seed ${document_.seed_value}${several}` +
        (asked ? `: ${met} of ${asked} targets met (${document_.method})` : ": no targets, the continuation as it came"));
      if (player.playing) startPlayer();
    } catch (error) {
      showError(error.message);
      say("");
    } finally {
      button.disabled = false;
    }
  }

  // --- the result ---------------------------------------------------------------------------------------------------
  function shown() {
    return state.document.variations ? state.document.variations[state.variation] : state.document;
  }

  function barsOf(pattern) {
    return pattern.bars ? pattern.bars.map((bar) => bar.grid) : [pattern.grid];
  }

  function showResult(document_) {
    const columns = [["seed", document_.seed], ["continuation", document_.continuation], ["tuned", document_.tuned]];
    const patterns = $("#patterns");
    patterns.replaceChildren();
    for (const [title, pattern] of columns) {
      const column = document.createElement("figure");
      column.className = "pattern";
      column.dataset.pattern = title;
      const caption = document.createElement("figcaption");
      caption.textContent = title === "tuned" && document_.method === "none" ? "tuned (no targets)" : title;
      column.append(caption);
      barsOf(pattern).forEach((rows, b) => column.append(resultGrid(title, b, rows, title === "seed")));
      patterns.append(column);
    }
    showFeatures(document_, columns);
    for (const button of document.querySelectorAll("[data-download]")) button.disabled = false;
    $("#play").disabled = false;
  }

  // One bar, read-only; only the first column spells out the part names (the rows line up across columns).
  function resultGrid(title, bar, rows, labelled) {
    const grid = document.createElement("div");
    grid.className = labelled ? "grid" : "grid unlabelled";
    grid.dataset.bar = String(bar);
    grid.setAttribute("role", "img");
    grid.setAttribute("aria-label",
      `${title} bar ${bar + 1}: ` + state.setup.parts.map((part) => `${part} ${rows[part]}`).join(", "));
    for (const part of state.setup.parts) {
      if (labelled) {
        const label = document.createElement("span");
        label.className = "part-label";
        label.textContent = part;
        grid.append(label);
      }
      [...rows[part]].forEach((char, step) => {
        const cell = document.createElement("span");
        cell.className = `cell part-${part}${offBeat(step)}` + (char === "x" ? " on" : "");
        cell.dataset.part = part;
        cell.dataset.step = String(step);
        grid.append(cell);
      });
    }
    return grid;
  }

  function showFeatures(document_, columns) {
    const table = $("#features");
    const head = document.createElement("tr");
    for (const title of ["feature", ...columns.map(([title]) => title), "target", "met"]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = title;
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    const rows = Object.keys(state.setup.features).map((feature) => {
      const row = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = feature.replace("_", " ");
      row.append(name);
      for (const [, pattern] of columns) {
        const values = pattern.bars ? pattern.bars.map((bar) => bar.features[feature]) : [pattern.features[feature]];
        row.append(cell(values.map(number).join(" ")));
      }
      const target = document_.targets[feature];
      row.append(cell(target ? `${target.level} ${number(target.band[0])}–${number(target.band[1])}` : "—"));
      const met = cell(target ? (target.met ? "yes" : "no") : "");
      if (target) met.className = target.met ? "met" : "unmet";
      row.append(met);
      return row;
    });
    table.tBodies[0].replaceChildren(...rows);
    table.hidden = false;
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  // --- the player: the loop (seed bar, then the tuned bars) on Tone's transport ----------------------------------
  const player = { playing: false, kit: null, sequence: null, highlighted: [] };

  // The loop's hits step by step: { part, velocity 0..1, offset (s) }. With a feel in the document (the groove
  // model's velocities and timing, swing included) the hits sound as played; without, on the grid at jaki's accents.
  function loopSteps() {
    const document_ = shown();
    const bars = [document_.seed.grid, ...barsOf(document_.tuned)];
    const steps = bars.flatMap((rows) => Array.from({ length: STEPS }, (_, step) =>
      state.setup.parts.filter((part) => rows[part][step] === "x").map((part) => ({
        part, velocity: state.setup.accent_velocities[step] / 127, offset: 0,
      }))));
    const feel = document_.feel;
    if (feel) {
      const played = [...feel.seed, ...feel.tuned.map((hit) => ({ ...hit, step: hit.step + STEPS }))];
      for (const hit of played) {
        const note = steps[hit.step].find((n) => n.part === hit.part);
        if (!note) continue;
        if (hit.velocity !== null) note.velocity = hit.velocity / 127;
        if (hit.offset_ms !== null) note.offset = hit.offset_ms / 1000;
      }
    }
    return steps;
  }

  function highlight(index) {
    for (const cell of player.highlighted) cell.classList.remove("now");
    const bar = Math.floor(index / STEPS);
    const step = index % STEPS;
    const grids = bar === 0
      ? [$('#patterns [data-pattern="seed"] .grid')]
      : [$(`#patterns [data-pattern="tuned"] .grid[data-bar="${bar - 1}"]`)];
    player.highlighted = grids.filter(Boolean).flatMap((grid) => [...grid.querySelectorAll(`[data-step="${step}"]`)]);
    for (const cell of player.highlighted) cell.classList.add("now");
  }

  function startPlayer() {
    const transport = Tone.getTransport();
    stopSequence();
    const steps = loopSteps();
    player.kit ||= window.JakiDrums.createKit();
    hook.scheduled = [];
    hook.steps = 0;
    transport.bpm.value = tempo();
    player.sequence = new Tone.Sequence((time, index) => {
      const openAs = $("#open-as").value;
      const pass = Math.floor(hook.steps / steps.length);
      hook.steps += 1;
      for (const { part, velocity, offset } of steps[index]) {
        const at = Math.max(time + offset, Tone.now()); // an early hit is played as early as the clock allows
        player.kit.trigger(part, at, velocity, openAs);
        hook.scheduled.push({ step: index, part, time: at, velocity, pass });
      }
      Tone.getDraw().schedule(() => highlight(index), time);
    }, steps.map((_, index) => index), "16n");
    player.sequence.start(0);
    transport.start("+0.05");
  }

  function stopSequence() {
    const transport = Tone.getTransport();
    transport.stop();
    transport.position = 0;
    if (player.sequence) player.sequence.dispose();
    player.sequence = null;
    for (const cell of player.highlighted) cell.classList.remove("now");
  }

  function tempo() {
    const value = Number($("#tempo").value);
    const [lo, hi] = state.setup.limits.tempo;
    return Number.isFinite(value) && value >= lo && value <= hi ? value : state.setup.defaults.tempo;
  }

  async function togglePlay() {
    const button = $("#play");
    if (player.playing) {
      stopSequence();
      player.playing = false;
    } else {
      await Tone.start(); // inside the click: browsers start audio only on a user's gesture
      startPlayer();
      player.playing = true;
    }
    button.textContent = player.playing ? "Stop" : "Play";
    button.setAttribute("aria-pressed", String(player.playing));
  }

  // --- downloads: MIDI from the API (the files `jaki generate` writes), the JSON document as shown -------------------
  async function download(role) {
    showError("");
    let blob;
    if (role === "json") {
      blob = new Blob([JSON.stringify(state.document, null, 2)], { type: "application/json" });
    } else {
      const body = { ...state.request, tempo: tempo(), open_as: $("#open-as").value };
      try {
        const response = await api(`/api/midi/${role}?variation=${state.variation + 1}`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
        });
        blob = await response.blob();
      } catch (error) {
        showError(error.message);
        return;
      }
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = role === "json" ? "generation.json" : `${role}.mid`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  // --- start ----------------------------------------------------------------------------------------------------------
  async function start() {
    try {
      state.setup = await (await api("/api/setup")).json();
      state.grooves = await (await api("/api/grooves")).json();
    } catch (error) {
      showError(error.message);
      return;
    }
    buildSeedGrid();
    buildControls();
    $("#groove").append(...state.grooves.map((g) => new Option(`${g.name} — ${g.description}`, g.name)));
    $("#groove").addEventListener("change", (event) => {
      if (event.target.value) loadGroove(event.target.value);
    });
    $("#clear").addEventListener("click", () => {
      state.setup.parts.forEach((_, p) => { for (let s = 0; s < STEPS; s++) setCell(p, s, false); });
      state.origin = { kind: "grid" };
      $("#groove").value = "";
      describeSeed();
    });
    $("#midi-file").addEventListener("change", (event) => {
      if (event.target.files.length) readMidi(event.target.files[0]);
    });
    $("#midi-bar").addEventListener("change", (event) => chooseMidiBar(Number(event.target.value)));
    $("#variation").addEventListener("change", (event) => {
      state.variation = Number(event.target.value);
      showResult(shown());
      if (player.playing) startPlayer();
    });
    for (const select of [$("#drum-map"), $("#channel")]) {
      select.addEventListener("change", () => {
        if (state.midiFile) readMidi(state.midiFile.file);
      });
    }
    document.addEventListener("dragover", (event) => event.preventDefault());
    document.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer.files.length) readMidi(event.dataTransfer.files[0]);
    });
    $("#reseed").addEventListener("click", () => {
      $('#steer input[name="seed"]').value = String(Math.floor(Math.random() * 1_000_000));
    });
    $("#steer").addEventListener("submit", generate);
    $("#play").addEventListener("click", togglePlay);
    $("#tempo").addEventListener("input", () => { Tone.getTransport().bpm.value = tempo(); });
    for (const button of document.querySelectorAll("[data-download]")) {
      button.addEventListener("click", () => download(button.dataset.download));
    }
    const first = state.grooves[0];
    $("#groove").value = first.name;
    loadGroove(first.name);
  }

  start();
})();
