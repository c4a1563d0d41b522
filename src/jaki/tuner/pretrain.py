"""Pretraining the shipped agent: episodes start from the continuation model's own bar 2s of training-split seeds."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from jaki.dataset import LoopDataset
from jaki.tuner.dqn import DQNConfig, TrainingPool, TrainProgress, TuningAgent, train_agent
from jaki.tuner.problem import EditRules, RewardConfig, TuningProblem
from jaki.tuner.scorer import ModelScorer
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
        codes = None if conditions is None else np.broadcast_to(conditions, (len(seeds), len(conditions)))
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
    scorer = ModelScorer(loaded.model, device=device)  # moves the model to the device
    generator = torch.Generator(device=device).manual_seed(config.seed)
    starts = continuations(loaded.model, seeds, generator=generator)
    reward = reward or (resume.reward if resume else RewardConfig())
    rules = rules or EditRules()
    pool = TrainingPool.build(TuningProblem(scorer, loaded.bands, reward, rules=rules), seeds, starts)
    agent = train_agent(
        scorer,
        pool,
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
    return agent
