"""Pretraining the shipped agent: episodes start from the continuation model's own bar 2s of training-split seeds.

Users mostly tune programmed seeds (grids, built-in grooves, clips), which ``jaki generate`` continues and scores
under the model's programmed condition; a share of the training seeds (``DQNConfig.programmed_share``) is therefore
taken as programmed too: a train bar 1 with its ghost notes removed, continued and scored under programmed = 1 (the
model's own programmed copies, :mod:`jaki.conditions`). The programmed development set is never used here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from jaki.conditions import ExampleConfig, codes_for, remove_ghost_notes
from jaki.dataset import LoopDataset
from jaki.pattern import STEPS_PER_BAR, hits_to_categories
from jaki.tuner.dqn import DQNConfig, TrainingPool, TrainProgress, TuningAgent, train_agent
from jaki.tuner.problem import EditRules, RewardConfig, TuningProblem
from jaki.tuner.scorer import ModelScorer, Scorer
from jaki.weights import LoadedModel


def _weights_hash(model: torch.nn.Module) -> str:
    """SHA-256 over the model's tensors (names and float32 bytes): which weights the agent was trained against."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
    return digest.hexdigest()


@torch.no_grad()
def continuations(
    model: torch.nn.Module,
    seed_bars: np.ndarray,
    *,
    sampled_share: float = 0.5,
    generator: torch.Generator | None = None,
    chunk: int = 2048,
    conditions: np.ndarray | None = None,
) -> np.ndarray:
    """The model's bar 2 for each seed: the argmax continuation, or for a ``sampled_share`` of them a sample
    (temperature 1), so that the agent also meets the livelier bars ``jaki generate`` may sample. ``conditions``:
    the (k,) codes every bar 2 is asked for (None: the model's plain case)."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(seed_bars), chunk):
        seeds = torch.as_tensor(seed_bars[start : start + chunk], dtype=torch.long, device=device)
        codes = None if conditions is None else np.tile(conditions, (len(seeds), 1))
        greedy = model.generate(seeds, greedy=True, conditions=codes)
        sampled = model.generate(seeds, temperature=1.0, generator=generator, conditions=codes)
        pick = torch.rand(len(seeds), generator=generator, device=device) < sampled_share
        out.append(torch.where(pick.to(device)[:, None], sampled, greedy))
    return torch.cat(out).cpu().numpy().astype(np.int64)


def pretrain_agent(
    loaded: LoadedModel,
    dataset: LoopDataset,
    *,
    config: DQNConfig,
    reward: RewardConfig | None = None,
    rules: EditRules | None = None,
    model_dir: Path | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    device: str = "cpu",
    time_budget_s: float | None = None,
    resume: TuningAgent | None = None,
) -> TuningAgent:
    """Train a target-conditioned agent on the training split's seeds (deterministic for ``config.seed`` on CPU).

    ``device`` runs the continuation model and the Q-networks there (e.g. "cuda"); the agent comes back on the CPU.
    ``resume`` continues training that agent (with ``config``; its reward is kept); each run is logged as one
    phase in ``metadata["training"]["phases"]``.
    """
    seeds, _ = dataset.training_arrays("train")
    reward = reward or (resume.reward if resume else RewardConfig())
    rules = rules or EditRules()
    generator = torch.Generator(device=device).manual_seed(config.seed)
    names = loaded.config.conditions
    programmed = np.random.default_rng(config.seed).random(len(seeds)) < config.programmed_share
    programmed_seeds = programmed_seed_bars(dataset)[programmed]
    # A seed says how its bars are scored: a plain seed equal to a programmed one is left out.
    plain_seeds = seeds[~programmed & ~_is_among(seeds, programmed_seeds)]
    scorers, pools = [], []
    for chosen, codes in (
        (plain_seeds, None),
        (programmed_seeds, codes_for(names, programmed=1) if names else None),
    ):
        scorer = ModelScorer(loaded.model, device=device, conditions=codes)  # moves the model to the device
        scorers.append(scorer)
        if len(chosen):
            starts = continuations(loaded.model, chosen, generator=generator, conditions=codes)
            problem = TuningProblem(scorer, loaded.bands, reward, rules=rules)
            pools.append(TrainingPool.build(problem, chosen, starts))
    agent = train_agent(
        SeedConditionScorer(*scorers, programmed_seeds),
        TrainingPool.concat(pools),
        loaded.bands,
        config=config,
        reward=reward,
        rules=rules,
        agent=resume,
        progress=progress,
        device=device,
        time_budget_s=time_budget_s,
    )
    # This run's phase: where it ran, its config and the edit rules its episodes obeyed.
    agent.metadata["training"]["phases"][-1].update(device=str(device), config=asdict(config), rules=asdict(rules))
    agent.metadata["continuation_model"] = {
        "dir": str(model_dir) if model_dir is not None else "shipped",
        "weights_sha256": _weights_hash(loaded.model),
        "dataset_hash": loaded.metadata.get("dataset_hash") or loaded.metadata.get("dataset", {}).get("content_hash"),
        "config": loaded.metadata.get("model"),
    }
    agent.metadata["dataset_hash"] = dataset.content_hash()
    agent.metadata["training_seeds"] = len(seeds)
    agent.metadata["training"]["phases"][-1].update(
        plain_seeds=len(plain_seeds), programmed_seeds=len(programmed_seeds)
    )
    return agent


def programmed_seed_bars(dataset: LoopDataset, ghost_velocity: float = ExampleConfig.ghost_velocity) -> np.ndarray:
    """(n, 16) the training split's bar 1s with their ghost notes removed, in ``training_arrays`` order: performances
    made to look programmed, as the model's programmed copies are."""
    mask = dataset.split_mask("train")
    hits = remove_ghost_notes(dataset.hits[mask], dataset.velocities[mask], ghost_velocity)
    return hits_to_categories(hits[:, :STEPS_PER_BAR])


def _is_among(bars: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(n,) bool: the bar equals one of ``others``."""
    keys = {row.tobytes() for row in np.asarray(others, dtype=np.int64)}
    return np.array([row.tobytes() in keys for row in np.asarray(bars, dtype=np.int64)], dtype=bool)


class SeedConditionScorer:
    """Scores each bar under the programmed condition when its seed is one of ``programmed_seeds``, else under the
    plain one: the training pool keeps its two kinds of seeds apart by value, so a seed says which it is."""

    def __init__(self, plain: Scorer, programmed: Scorer, programmed_seeds: np.ndarray) -> None:
        self.scorers = (plain, programmed)
        self.programmed_seeds = np.asarray(programmed_seeds, dtype=np.int64)

    def _each(self, method: str, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray:
        bars = np.asarray(bars, dtype=np.int64).reshape(-1, STEPS_PER_BAR)
        seed_bars = np.broadcast_to(np.asarray(seed_bars, dtype=np.int64).reshape(-1, STEPS_PER_BAR), bars.shape)
        programmed = _is_among(seed_bars, self.programmed_seeds)
        out = None
        for scorer, rows in zip(self.scorers, (~programmed, programmed), strict=True):
            if rows.any():
                part = getattr(scorer, method)(seed_bars[rows], bars[rows])
                out = np.empty((len(bars), *part.shape[1:]), dtype=part.dtype) if out is None else out
                out[rows] = part
        return out

    def __call__(self, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray:
        return self._each("__call__", seed_bars, bars)

    def step_log_probs(self, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray:
        return self._each("step_log_probs", seed_bars, bars)
