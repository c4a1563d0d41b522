"""``jaki generate``: the main job, as a drummer or producer uses it."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from jaki.errors import JakiInputError
from jaki.features import FEATURE_MEANINGS, FEATURE_RANGES, TUNER_FEATURES, FeatureBands
from jaki.generate import (
    MAX_BARS,
    MAX_VARIATIONS,
    Generation,
    Seed,
    TuningOptions,
    bar_features,
    check_method,
    check_seed_value,
    draw_seed_value,
    generate_variations,
    open_note,
    output_paths,
    parse_target,
    random_groove,
    resolve_tempo,
    seed_from_dataset,
    seed_from_grid,
    seed_from_groove,
    seed_from_midi,
    seeds_from_dataset,
    variations_document,
    write_generation,
)
from jaki.io import check_output_folder, read_bounded
from jaki.kit import BUILTIN_DRUM_MAPS, load_drum_map
from jaki.pattern import PARTS

if TYPE_CHECKING:
    from jaki.tuner import TrainProgress


MAX_GRID_FILE_BYTES = 1 << 16  # a one-bar grid is under a hundred bytes
MAX_REFINE_SECONDS = 3600.0  # per bar: refinement pays off within seconds


def _target_help(feature: str) -> str:
    lo, hi = FEATURE_RANGES[feature]
    return (
        f"Target: {FEATURE_MEANINGS[feature]} ({lo:g}–{hi:g}). low|medium|high (or 0|1|2; the bands: "
        "'jaki features') or a number; omit to skip."
    )


def generate(
    groove: Annotated[str | None, typer.Option(help="Seed: a built-in groove (see 'jaki grooves').")] = None,
    seed_grid: Annotated[
        str | None, typer.Option(help="Seed: a one-bar text grid (rows kick snare closed open toms).")
    ] = None,
    seed_grid_file: Annotated[Path | None, typer.Option(help="Seed: a file holding a one-bar text grid.")] = None,
    seed_midi: Annotated[Path | None, typer.Option(help="Seed: a bar of a drum MIDI file.")] = None,
    bar: Annotated[
        int | None, typer.Option(help="With --seed-midi: the bar number (1 = first; default: first 4/4 bar with hits).")
    ] = None,
    drum_map: Annotated[
        str | None,
        typer.Option(help=f"With --seed-midi: drum map {', '.join(BUILTIN_DRUM_MAPS)} or a .toml/.json file."),
    ] = None,
    channel: Annotated[
        int | None, typer.Option(help="With --seed-midi: the drums' MIDI channel 1-16 (default: channel 10).")
    ] = None,
    from_data: Annotated[
        Path | None, typer.Option(help="Seed: bar 1 of a loop of a dataset built with 'jaki dataset build'.")
    ] = None,
    index: Annotated[int | None, typer.Option(help="With --from-data: the loop index (default: random).")] = None,
    all_loops: Annotated[
        bool,
        typer.Option(
            "--all",
            help="With --from-data: continue every loop of the dataset in batched calls, each into its own folder "
            "of --out (loop-00000, loop-00001, …: the files one seed writes).",
        ),
    ] = False,
    cymbal_density: Annotated[str | None, typer.Option(help=_target_help("cymbal_density"))] = None,
    drum_density: Annotated[str | None, typer.Option(help=_target_help("drum_density"))] = None,
    syncopation: Annotated[str | None, typer.Option(help=_target_help("syncopation"))] = None,
    repetition: Annotated[str | None, typer.Option(help=_target_help("repetition"))] = None,
    keep: Annotated[
        str | None, typer.Option(help="Parts tuning never changes, comma-separated (kick,snare,closed,open,toms).")
    ] = None,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Prompt for the four targets.")] = False,
    closeness: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Weight of the continuation model's likelihood in the reward (RL Tuner's 1/c; default: the agent's).",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(help="Tuning method: agent (pretrained Double DQN), greedy (hill-climbing) or random.")
    ] = "agent",
    refine: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=MAX_REFINE_SECONDS,
            help="Per-seed refinement: keep training the agent on this seed for SECONDS per bar (plus a few seconds "
            "to start the trainer).",
        ),
    ] = 0.0,
    bars: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_BARS,
            help="Play a phrase of this many bars after the seed, each varying the seed at its place in the phrase: "
            "tuned.mid holds these N bars, loop.mid and loop.wav the seed + N (so --bars 3 makes a 4-bar loop).",
        ),
    ] = 1,
    temperature: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=10.0, help="Sampling temperature (default: the model's own); 0 = its single most likely bar."
        ),
    ] = None,
    top_p: Annotated[
        float | None,
        typer.Option(
            "--top-p",
            min=0.01,
            max=1.0,
            help="Sample from the likeliest categories holding this share (default: the model's).",
        ),
    ] = None,
    fill: Annotated[
        bool,
        typer.Option(
            "--fill", help="Make the last bar a fill: --bars 3 --fill gives a 4-bar loop whose bar 4 is a fill."
        ),
    ] = False,
    variations: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_VARIATIONS,
            help="Write this many distinct candidates, most likely first, each in a folder variation-N of --out.",
        ),
    ] = 1,
    tempo: Annotated[
        float | None, typer.Option(help="Tempo of the MIDI files in BPM (default: the seed's, else 100).")
    ] = None,
    open_as: Annotated[
        str, typer.Option(help="Write the open-cymbal part as an open 'hihat' (46) or a 'crash' (49).")
    ] = "hihat",
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: a new folder named from the time and seed).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite files already in the output folder.")] = False,
    wav: Annotated[
        bool,
        typer.Option(
            help="Also render loop.wav with FluidSynth and a GM soundfont: exactly the loop's length, the ringing "
            "tail folded back onto its start, ready to loop in a DAW."
        ),
    ] = False,
    png: Annotated[bool, typer.Option(help="Also draw the bars as a piano roll, patterns.png.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
    quantize: Annotated[
        bool, typer.Option("--quantize", help="Write the grid: fixed accents, every hit on its step (no feel).")
    ] = False,
    humanize: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="How much of the groove model's velocity and timing feel (0..1; default 1)."
        ),
    ] = None,
    swing: Annotated[
        float,
        typer.Option(min=50.0, max=75.0, help="Swing the off-beat 16ths, MPC-style percent (50 straight, 66 triplet)."),
    ] = 50.0,
    seed: Annotated[
        int | None, typer.Option(help="Random seed: the same seed gives the same pattern and files.")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Continuation model folder (default: the shipped model).")] = None,
    agent: Annotated[Path | None, typer.Option(help="Tuner agent folder (default: the shipped agent).")] = None,
) -> None:
    """Continue a one-bar seed and tune the continuation toward your targets; write MIDI files."""
    import torch  # here, not at the top: 'jaki grooves' and 'jaki --help' must not wait for it

    from jaki.tuner import Targets, keep_mask
    from jaki.weights import load_model

    torch.set_num_threads(1)  # one pattern at a time: a second thread only adds synchronisation waits
    seed_value = check_seed_value(seed) if seed is not None else draw_seed_value()
    rng = np.random.default_rng(seed_value)
    open_midi_note = open_note(open_as)
    if all_loops and (from_data is None or index is not None or variations > 1):
        raise JakiInputError("--all goes with --from-data FILE, without --index or --variations")
    seed_bar = _choose_seed(groove, seed_grid, seed_grid_file, seed_midi, bar, drum_map, channel, from_data, index, rng)
    typed = {
        "cymbal_density": cymbal_density,
        "drum_density": drum_density,
        "syncopation": syncopation,
        "repetition": repetition,
    }
    requests = {feature: parse_target(feature, text) for feature, text in typed.items() if text is not None}
    Targets(**requests)  # out-of-range numbers fail here, before any work
    kept = tuple(part.strip() for part in (keep or "").split(",") if part.strip())
    keep_mask(kept, 1)  # and unknown parts to keep
    loaded = load_model(model)
    if interactive or (not requests and not json_output and sys.stdin.isatty() and sys.stdout.isatty()):
        requests = _prompt_targets(loaded.bands)
    out_dir = out if out is not None else Path(f"jaki-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed_value}")
    if quantize and humanize is not None:
        raise JakiInputError("--quantize and --humanize: give one of them (--quantize is --humanize 0)")
    tuning = TuningOptions(method=check_method(method), closeness=closeness, refine_seconds=refine, agent_dir=agent)
    feel = {"humanize": 0.0 if quantize else (1.0 if humanize is None else humanize), "swing": swing}
    if all_loops:
        from jaki.cli.batch import generate_all

        options = {"n_bars": bars, "temperature": temperature, "top_p": top_p, "fill": fill, "keep": kept, **feel}
        files = {"open_note": open_midi_note, "force": force, "wav": wav, "png": png}
        generate_all(
            seeds_from_dataset(from_data),
            requests,
            out_dir,
            seed_value,
            loaded,
            tuning,
            tempo,
            options,
            files,
            json_output=json_output,
        )
        return
    tempo_bpm = resolve_tempo(tempo, seed_bar)
    # Fail before any work when a folder already holds a file a generation can write.
    folders = [out_dir] if variations == 1 else [out_dir / f"variation-{n}" for n in range(1, variations + 1)]
    for folder in folders:
        every_output = output_paths(folder, wav=True, png=True).values()
        check_output_folder(folder, [path.name for path in every_output], overwrite=force, create_parents=True)

    with _refine_display(
        active=refine > 0 and bool(requests) and not json_output, seconds=refine, bars=bars * variations
    ) as progress:
        generations = generate_variations(
            seed_bar,
            requests,
            variations,
            n_bars=bars,
            temperature=temperature,
            top_p=top_p,
            fill=fill,
            seed_value=seed_value,
            model=loaded,
            tuning=tuning,
            progress=progress,
            keep=kept,
            **feel,
            tempo_bpm=tempo_bpm,
        )
    written = [
        write_generation(
            generation, folder, tempo_bpm=tempo_bpm, open_note=open_midi_note, force=force, wav=wav, png=png
        )
        for generation, folder in zip(generations, folders, strict=False)
    ]
    if json_output:
        document = variations_document(generations, written, asked=variations)
        typer.echo(json.dumps(document, indent=2, allow_nan=False))
        return
    for generation, files in zip(generations, written, strict=True):
        if variations > 1:
            Console().rule(
                f"variation {generation.rank} of {len(generations)}  (log p {generation.log_likelihood:.2f})"
            )
        _print_generation(generation, files, tempo_bpm)
    if len(generations) < variations:
        Console(stderr=True).print(
            f"[yellow]only {len(generations)} distinct bar(s) of {variations} asked for "
            f"({generations[0].decoding.describe()}; raise --temperature for more)[/yellow]"
        )


@contextmanager
def _refine_display(*, active: bool, seconds: float, bars: int) -> Iterator[Callable[[TrainProgress], None] | None]:
    """A live line while per-seed refinement trains (the trainer reports at least every 0.25 s)."""
    if not active:
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as display:
        task = display.add_task("refining: preparing the trainer…", total=None)
        bar, last_step, best = 1, 0, math.nan

        def report(state: TrainProgress) -> None:
            nonlocal bar, last_step, best
            if state.step < last_step:  # a new training run: the next bar
                bar, best = bar + 1, math.nan
            last_step = state.step
            best = state.mean_return if math.isnan(best) else max(best, state.mean_return)
            display.update(task, description=refine_status(state, best, bar=bar, bars=bars, seconds=seconds))

        yield report


def refine_status(state: TrainProgress, best: float, *, bar: int, bars: int, seconds: float) -> str:
    """One line of refinement progress; figures not known yet (no episode finished) read '—'."""
    shown = lambda value, text: "—" if math.isnan(value) else text.format(value)  # noqa: E731
    where = f"bar {bar}/{bars}, " if bars > 1 else ""
    return (
        f"refining {where}{state.seconds:.1f} of {seconds:g} s: step {state.step}, {state.episodes} episodes, "
        f"reward {shown(state.mean_return, '{:+.2f}')} (best {shown(best, '{:+.2f}')}), "
        f"all met {shown(state.success, '{:.0%}')}"
    )


def _choose_seed(
    groove: str | None,
    grid: str | None,
    grid_file: Path | None,
    midi: Path | None,
    bar: int | None,
    drum_map: str | None,
    channel: int | None,
    data: Path | None,
    index: int | None,
    rng: np.random.Generator,
) -> Seed:
    given = [
        name
        for name, value in (
            ("--groove", groove),
            ("--seed-grid", grid),
            ("--seed-grid-file", grid_file),
            ("--seed-midi", midi),
            ("--from-data", data),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise JakiInputError(f"choose one seed: {' and '.join(given)} were both given")
    if (bar is not None or channel is not None) and midi is None:
        raise JakiInputError(f"{'--bar' if bar is not None else '--channel'} goes with --seed-midi")
    if index is not None and data is None:
        raise JakiInputError("--index goes with --from-data")
    if groove is not None:
        return seed_from_groove(groove)
    if grid is not None:
        return seed_from_grid(grid.replace("\\n", "\n"), "--seed-grid")
    if grid_file is not None:
        try:
            text = read_bounded(grid_file, MAX_GRID_FILE_BYTES, "a text grid").decode("utf-8")
        except UnicodeDecodeError:
            raise JakiInputError(f"{grid_file}: not UTF-8 text (expected a text grid)") from None
        return seed_from_grid(text, str(grid_file))
    if midi is not None:
        return seed_from_midi(midi, bar, None if drum_map is None else dict(load_drum_map(drum_map)), channel)
    if data is not None:
        return seed_from_dataset(data, index, rng)
    return random_groove(rng)


def _prompt_targets(bands: FeatureBands) -> dict[str, str | float]:
    """Ask for each feature in the original jaki's order; a blank answer skips it. Each answer is checked as it is
    typed (a word or a number out of the feature's range is asked again), so one typo never loses the others."""
    from jaki.tuner import Targets

    typer.echo("Targets (low / medium / high, 0 / 1 / 2, or a number; blank to skip):", err=True)
    requests: dict[str, str | float] = {}
    for feature in TUNER_FEATURES:
        shown = "  ".join(f"{level} {band}" for level, band in bands[feature].items())
        while True:
            answer = typer.prompt(f"  {feature.replace('_', ' ')} [{shown}]", default="", show_default=False, err=True)
            try:
                value = parse_target(feature, answer)
                Targets(**{feature: value})
            except JakiInputError as error:
                typer.echo(f"  {error}", err=True)
                continue
            if value is not None:
                requests[feature] = value
            break
    return requests


def _print_generation(generation: Generation, files: dict[str, Path], tempo_bpm: float) -> None:
    console = Console()
    console.print(f"[bold]seed[/bold]: {generation.seed.source}    [bold]random seed[/bold]: {generation.seed_value}")
    columns = [("seed", generation.seed.pattern), ("continuation", generation.continuation)]
    if generation.tuned is not None:
        columns.append(("tuned", generation.tuned))
    side_by_side = 8 + sum(pattern.n_bars * 17 + 2 for _, pattern in columns) <= console.width
    for group in [columns] if side_by_side else [[column] for column in columns]:
        grid = Table(box=None, pad_edge=False)
        grid.add_column("")
        for title, _ in group:
            grid.add_column(title)
        rows = {title: pattern.to_grid(" ").splitlines() for title, pattern in group}
        for p, part in enumerate(PARTS):
            grid.add_row(part, *(rows[title][p].split(maxsplit=1)[1] for title, _ in group))
        console.print(grid)

    features = Table("feature", *(title for title, _ in columns), "target", "met", box=None)
    outcomes = {outcome.feature: outcome for outcome in generation.outcomes}
    values = {title: bar_features(pattern) for title, pattern in columns}
    for feature in TUNER_FEATURES:
        cells = [" ".join(_value_text(bar[feature]) for bar in values[title]) for title, _ in columns]
        outcome = outcomes.get(feature)
        target = "—" if outcome is None else f"{outcome.request} {outcome.band}"
        met = "" if outcome is None else ("[green]yes[/green]" if outcome.met else "[red]no[/red]")
        features.add_row(feature.replace("_", " "), *cells, target, met)
    console.print(features)
    if generation.tuned is None:
        console.print("[yellow]no targets requested: the continuation is the result (try --syncopation high)[/yellow]")
    else:
        console.print(f"tuned by: {generation.method}")
    played = generation.performance
    if played is None:
        console.print("feel: none (the grid, fixed accents)")
    else:
        swing = f", swing {played.options.swing:g}%" if played.options.swing != 50 else ""
        console.print(f"feel: groove model, humanize {played.options.humanize:g}{swing} (--quantize for the grid)")
    console.print(f"wrote {', '.join(str(path) for path in files.values())} at {tempo_bpm:g} BPM")


def _value_text(value: float) -> str:
    return f"{value:.3g}" if not float(value).is_integer() else f"{int(value)}"
