"""``jaki train-tuner`` and ``jaki evaluate-tuner``: pretrain the tuning agent, and compare every tuning method."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jaki.cli import DATASET_HELP
from jaki.conditions import codes_for
from jaki.dataset import load_dataset, require_split
from jaki.errors import JakiInputError
from jaki.generate import MAX_SEED_VALUE
from jaki.io import check_output_folder
from jaki.tuner.dqn import CONFIG_FILE, WEIGHTS_FILE, DQNConfig, TrainProgress, load_agent
from jaki.tuner.evaluation import (
    STEEP_LOSS_NATS,
    SeedSet,
    TunerEvaluation,
    anchor_rates,
    evaluate_seed_sets,
    load_judge,
    programmed_seeds,
)
from jaki.tuner.methods import RefineConfig
from jaki.tuner.pretrain import pretrain_agent
from jaki.tuner.problem import RewardConfig
from jaki.weights import load_model

MAX_BUDGET_S = 7 * 24 * 3600.0  # a week of training
MAX_REFINE_STEPS = 10_000  # per-seed refinement is a hundred steps; ten thousand is hours


def train_tuner(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the agent to (agent.safetensors + agent.json).")
    ],
    data: Annotated[Path, typer.Option("--data", help=f"{DATASET_HELP}.")],
    model: Annotated[
        Path | None, typer.Option("--model", help="Continuation model folder (default: the shipped model).")
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED_VALUE, help="Seeds targets, episodes, exploration and the network.")
    ] = 0,
    steps: Annotated[
        int,
        typer.Option(
            min=1, max=DQNConfig.RANGES["total_steps"][1], help="Vectorised training steps (each moves 64 episodes)."
        ),
    ] = DQNConfig.total_steps,
    closeness: Annotated[
        float,
        typer.Option(min=0.0, max=100.0, help="Weight of the model's log-likelihood per nat (0 = the ablation)."),
    ] = RewardConfig.closeness,
    device: Annotated[
        str, typer.Option(help="Torch device for training: the continuation model and the Q-networks (cpu, cuda).")
    ] = "cpu",
    threads: Annotated[int, typer.Option(min=1, max=256, help="CPU threads for torch.")] = 1,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue training this agent (exploration restarts at ε 0.05)."),
    ] = None,
    budget_s: Annotated[
        float | None,
        typer.Option("--budget-s", min=1.0, max=MAX_BUDGET_S, help="Stop after this many seconds of training."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing agent in --out.")] = False,
) -> None:
    """Pretrain the target-conditioned Double-DQN tuning agent on the dataset's training seeds."""
    check_output_folder(out, (WEIGHTS_FILE, CONFIG_FILE), overwrite=force)  # before training, not at the save
    dataset = load_dataset(data)
    require_split(dataset, "train", data)  # the agent trains on these seeds: fail now, not deep in training
    loaded = load_model(model)
    torch.set_num_threads(threads)
    previous = load_agent(resume) if resume is not None else None
    config = (
        replace(
            previous.config, total_steps=steps, seed=seed, start_e=0.05, exploration_fraction=0.1, learning_starts=50
        )
        if previous
        else DQNConfig(total_steps=steps, seed=seed)
    )
    console = Console(stderr=True)
    with Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ε {task.fields[epsilon]:.2f}  success {task.fields[success]:.1%}  return {task.fields[ret]:+.2f}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("train", total=steps, epsilon=1.0, success=0.0, ret=0.0)

        def report(p: TrainProgress) -> None:
            success = 0.0 if np.isnan(p.success) else p.success
            ret = 0.0 if np.isnan(p.mean_return) else p.mean_return
            bar.update(task, completed=p.step, epsilon=p.epsilon, success=success, ret=ret)

        agent = pretrain_agent(
            loaded,
            dataset,
            config=config,
            reward=None if previous else RewardConfig(closeness=closeness),
            model_dir=model,
            progress=report,
            device=device,
            time_budget_s=budget_s,
            resume=previous,
        )
    agent.save(out, overwrite=force)
    phase = agent.metadata["training"]["phases"][-1]
    console.print(
        f"saved {out} — {phase['vector_steps']} steps, {phase['episodes']} episodes, {phase['seconds']:.0f} s, "
        f"final training success {phase['final_success_rate']:.1%}"
    )


def evaluate_tuner_command(
    data: Annotated[Path, typer.Option("--data", help=f"{DATASET_HELP}; its test split is used.")],
    model: Annotated[Path | None, typer.Option("--model", help="Continuation model folder (default: shipped).")] = None,
    agent: Annotated[Path | None, typer.Option("--agent", help="Agent folder (default: the shipped agent).")] = None,
    ablation: Annotated[
        Path | None,
        typer.Option("--ablation", help="Agent trained without the log-likelihood term (default: the shipped one)."),
    ] = None,
    judge: Annotated[
        Path | None,
        typer.Option("--judge", help="Independent continuation model scoring every method too (default: shipped)."),
    ] = None,
    programmed: Annotated[
        Path | None,
        typer.Option(
            "--programmed", help="Programmed patterns (bardet200.json layout): their first bars are a second seed set."
        ),
    ] = None,
    seeds: Annotated[
        int, typer.Option(min=1, max=100_000, help="Seeds per seed set (drawn at random with --seed).")
    ] = 40,
    combos: Annotated[
        str, typer.Option(help="'all' (255 combinations) or N per number of requested features.")
    ] = "all",
    slow_cases: Annotated[int, typer.Option(min=4, max=100_000, help="Cases for greedy hill-climbing.")] = 200,
    refine_cases: Annotated[
        int, typer.Option(min=1, max=10_000, help="Cases for per-seed refinement (a subset of greedy's).")
    ] = 16,
    refine_steps: Annotated[
        int, typer.Option(min=1, max=MAX_REFINE_STEPS, help="Training steps of per-seed refinement.")
    ] = RefineConfig.steps,
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED_VALUE, help="Seeds the choice of seeds and combinations.")
    ] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
) -> None:
    """Compare the tuning methods on held-out test seeds (and programmed seeds) × target combinations, scored by the
    continuation model and an independent judge."""
    if combos != "all" and not combos.isdigit():
        raise JakiInputError(f"--combos {combos!r}: expected 'all' or a positive number")
    torch.set_num_threads(1)
    loaded = load_model(model)
    dataset = load_dataset(data)
    tuning_agent = load_agent(agent)
    ablation_agent = load_agent(ablation, ablation=True) if ablation is not None or agent is None else None
    test_seeds, test_bars = require_split(dataset, "test", data)
    seed_sets = [SeedSet("GMD test", test_seeds)]
    if programmed is not None:
        codes = codes_for(loaded.config.conditions, programmed=1)
        seed_sets.append(SeedSet("programmed", programmed_seeds(programmed), codes))
    console = Console(stderr=True)
    reports = evaluate_seed_sets(
        loaded,
        tuning_agent,
        seed_sets,
        n_seeds=seeds,
        seed=seed,
        judge=load_judge(judge),
        ablation=ablation_agent,
        combos=None if combos == "all" else int(combos),
        slow_cases=slow_cases,
        refine_cases=refine_cases,
        refine=RefineConfig(steps=refine_steps),
        progress=lambda text: console.print(text, style="dim"),
    )
    real = anchor_rates(test_seeds, test_bars)
    if json_output:
        document = {**reports[0].to_json(), "real_anchor_rates": real}
        if len(reports) > 1:
            document["programmed"] = reports[1].to_json()
        typer.echo(json.dumps(document, allow_nan=False))
    else:
        wide = Console(width=max(Console().width, 170))
        for report in reports:
            print_evaluation(report, wide)
        wide.print(
            f"real GMD second bars (test split) keep the kick on beat 1 {real[0]:.1%}, the backbeat {real[1]:.1%}"
        )


def print_evaluation(report: TunerEvaluation, console: Console) -> None:
    table = Table(
        title=f"Tuning on {report.seeds} {report.seed_set} seeds × {report.combos} target combinations "
        f"({report.cases} patterns)"
    )
    for column in (
        "method",
        "requested",
        "patterns",
        "requests met",
        "all met",
        "mean log p",
        "judge log p",
        "log p if all met",
        "mean edits",
        f"> {STEEP_LOSS_NATS:g} nat/step lost",
        "kick 1 kept",
        "backbeat kept",
        "repaired",
        "median ms",
    ):
        table.add_column(column, justify="left" if column == "method" else "right")
    share = lambda value: f"{value:.1%}" if value is not None else ""  # noqa: E731
    for row in report.rows:
        table.add_row(
            row.method,
            row.requested_features,
            str(row.patterns),
            f"{row.request_success:.1%}",
            f"{row.all_met:.1%}",
            f"{row.mean_log_likelihood:.2f}",
            f"{row.judge_log_likelihood:.2f}" if row.judge_log_likelihood is not None else "",
            f"{row.solved_log_likelihood:.2f}" if row.solved_log_likelihood is not None else "",
            f"{row.mean_edits:.2f}",
            share(row.steep_loss),
            share(row.kick_one_kept),
            share(row.backbeat_kept),
            f"{row.repaired:.1%}" if row.repaired else "",
            f"{row.median_ms:.1f}" if row.median_ms is not None else "",
            end_section=row.requested_features == "4",
        )
    console.print(table)
    for paired in report.paired:
        both = lambda d: f"{d[0]:+.2f} ± {d[1]:.2f}" if d is not None else "—"  # noqa: E731
        console.print(
            f"agent − {paired.method}, paired on {paired.method}'s {paired.cases} cases (nats, model / judge): "
            f"{both(paired.model)} / {both(paired.judge)}; on the {paired.both_met} both meet every request of: "
            f"{both(paired.both_met_model)} / {both(paired.both_met_judge)}"
        )
    generation = f"; generating one continuation: {report.generate_ms:.2f} ms" if report.generate_ms else ""
    console.print(
        f"median times, one pattern: scoring forward pass {report.forward_ms:.2f} ms{generation}. Greedy on "
        f"{report.slow_cases} cases, refinement on {report.refine_cases}; 'repaired': share the safety net finished."
    )
