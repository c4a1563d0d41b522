"""Tuning benchmark: every method on held-out test seeds × target combinations, one table, and the issue's targets.

    python benchmarks/tuner.py --data gmd.npz [--model DIR] [--agent DIR] [--ablation DIR] [--seeds 40]
        [--combos all|N] [--slow-cases 200] [--refine-cases 16] [--json report.json]

Defaults: the shipped continuation model, the shipped agent and the shipped ablation agent (trained with
closeness 0, i.e. without the log-likelihood term). Checks issue 5 item 6: the agent meets ≥ 99 % of requests and
every request of ≥ 97 % of 4-feature combinations; its mean log-likelihood beats greedy hill-climbing's on the same
cases with no more edits; its median time per pattern is ≤ 10× one continuation forward pass.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from jaki.cli.tuner import print_evaluation
from jaki.dataset import load_dataset
from jaki.tuner.dqn import load_agent
from jaki.tuner.evaluation import MethodFigures, TunerEvaluation, evaluate_tuner
from jaki.tuner.methods import RefineConfig
from jaki.tuner.pretrain import continuations
from jaki.tuner.scorer import ModelScorer
from jaki.weights import load_model

SHIPPED_ABLATION = Path(__file__).resolve().parents[1] / "src" / "jaki" / "assets" / "tuner" / "ablation"


def _row(report: TunerEvaluation, method: str, requested: str = "all") -> MethodFigures | None:
    return next((r for r in report.rows if r.method == method and r.requested_features == requested), None)


def target_checks(report: TunerEvaluation) -> list[tuple[str, bool, str]]:
    agent, four = _row(report, "agent"), _row(report, "agent", "4")
    paired, greedy = _row(report, "agent (on greedy's cases)"), _row(report, "greedy")
    checks = [
        ("agent meets ≥ 99 % of requests", agent.request_success >= 0.99, f"{agent.request_success:.2%}"),
        ("agent meets all requests of ≥ 97 % of 4-feature combos", four.all_met >= 0.97, f"{four.all_met:.2%}"),
    ]
    if paired and greedy:
        checks += [
            (
                "agent's mean log p > greedy hill-climbing's (same cases)",
                paired.mean_log_likelihood > greedy.mean_log_likelihood,
                f"{paired.mean_log_likelihood:.3f} vs {greedy.mean_log_likelihood:.3f}",
            ),
            (
                "agent's mean edits ≤ greedy's (same cases)",
                paired.mean_edits <= greedy.mean_edits,
                f"{paired.mean_edits:.2f} vs {greedy.mean_edits:.2f}",
            ),
        ]
    ratio = agent.median_ms / report.forward_ms
    checks.append(
        ("agent's median ms ≤ 10 × one scoring forward pass", ratio <= 10, f"{agent.median_ms:.1f} ms = {ratio:.1f}×")
    )
    if report.generate_ms:
        ratio = agent.median_ms / report.generate_ms
        checks.append(
            (
                "agent's median ms ≤ 10 × generating one continuation",
                ratio <= 10,
                f"{agent.median_ms:.1f} ms = {ratio:.1f}× of {report.generate_ms:.2f} ms",
            )
        )
    if paired and greedy:
        checks.append(
            (
                "agent's log p where all met ≥ greedy's (greedy's cases)",
                paired.solved_log_likelihood >= greedy.solved_log_likelihood,
                f"{paired.solved_log_likelihood:.3f} vs {greedy.solved_log_likelihood:.3f}",
            )
        )
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--agent", type=Path, default=None)
    parser.add_argument("--ablation", type=Path, default=SHIPPED_ABLATION)
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--combos", default="all")
    parser.add_argument("--slow-cases", type=int, default=200)
    parser.add_argument("--refine-cases", type=int, default=16)
    parser.add_argument("--refine-steps", type=int, default=RefineConfig.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    loaded = load_model(args.model)
    agent = load_agent(args.agent)
    ablation = load_agent(args.ablation) if args.ablation and args.ablation.is_dir() else None
    test_seeds, _ = load_dataset(args.data).training_arrays("test")
    rng = np.random.default_rng(args.seed)
    seeds = test_seeds[rng.choice(len(test_seeds), size=min(args.seeds, len(test_seeds)), replace=False)]
    starts = continuations(loaded.model, seeds, sampled_share=0.0)
    console = Console(width=max(Console().width, 150))
    report = evaluate_tuner(
        ModelScorer(loaded.model),
        agent.bands,
        seeds,
        starts,
        agent=agent,
        ablation=ablation,
        combos=None if args.combos == "all" else int(args.combos),
        slow_cases=args.slow_cases,
        refine_cases=args.refine_cases,
        refine=RefineConfig(steps=args.refine_steps),
        seed=args.seed,
        generate=lambda bar1: loaded.model.generate(torch.as_tensor(bar1), greedy=True),
        progress=lambda text: console.print(text, style="dim"),
    )
    print_evaluation(report, console)
    for name, passed, figure in target_checks(report):
        console.print(f"{'PASS' if passed else 'MISS'}  {name}: {figure}")
    if args.json:
        document = {
            **report.to_json(),
            "checks": [{"target": n, "passed": p, "figure": f} for n, p, f in target_checks(report)],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
