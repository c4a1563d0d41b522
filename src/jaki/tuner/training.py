"""Training the agent with Double DQN, many episodes at once.

``train_agent`` follows cleanrl/dqn.py with the Double-DQN target of rainbow_atari.py: ε-greedy with a linear
schedule down to ``end_e``, a replay buffer, a target network updated with ``tau``, masks in both acting and
bootstrapping, and only *terminations* (stop) cut the bootstrap; a *truncation* (edit budget spent) still
bootstraps from the real last state. The replay buffer stores transitions compactly and the network inputs are
rebuilt when a batch is sampled.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jaki.features import FeatureBands
from jaki.pattern import N_CATEGORIES, STEPS_PER_BAR
from jaki.tuner.agent import (
    IMMEDIATE,
    DQNConfig,
    QNetwork,
    TuningAgent,
    masked_argmax,
    network_inputs,
    on_device,
    state_inputs,
)
from jaki.tuner.env import N_EDITS, STOP, TuningProblem, action_mask
from jaki.tuner.reward import RewardConfig
from jaki.tuner.scorer import Scorer
from jaki.tuner.targets import N_FEATURES, TargetArrays, sample_level_targets


@dataclass(frozen=True)
class TrainingPool:
    """The (seed bar, untuned bar 2) pairs episodes start from, with the model's per-step view of each."""

    seed: np.ndarray  # (N, 16)
    start: np.ndarray  # (N, 16)
    step_log_probs: np.ndarray  # (N, 16, 32) float32

    @classmethod
    def build(cls, scorer: Scorer, seed: np.ndarray, start: np.ndarray, chunk: int = 2048) -> TrainingPool:
        seed, start = np.asarray(seed, dtype=np.int64), np.asarray(start, dtype=np.int64)
        log_probs = np.concatenate(
            [scorer.step_log_probs(seed[i : i + chunk], start[i : i + chunk]) for i in range(0, len(seed), chunk)]
        )
        return cls(seed, start, log_probs.astype(np.float32))


@dataclass(frozen=True)
class TrainProgress:
    """What the progress callback receives every few steps."""

    step: int
    total_steps: int
    epsilon: float
    episodes: int
    mean_return: float  # of the last finished episodes
    success: float  # share of those that ended with every request met
    mean_edits: float
    loss: float
    seconds: float


class ReplayBuffer:
    """Transitions stored compactly (bars, targets, pool index); network inputs are rebuilt when sampled."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.bar = np.zeros((capacity, STEPS_PER_BAR), dtype=np.int8)
        self.next_bar = np.zeros((capacity, STEPS_PER_BAR), dtype=np.int8)
        self.pool_index = np.zeros(capacity, dtype=np.int64)
        self.kind = np.zeros((capacity, N_FEATURES), dtype=np.int8)
        self.lo = np.zeros((capacity, N_FEATURES))
        self.hi = np.zeros((capacity, N_FEATURES))
        self.action = np.zeros(capacity, dtype=np.int64)
        self.reward = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=bool)
        self.size = 0
        self.cursor = 0

    def add(self, bar, next_bar, pool_index, targets: TargetArrays, action, reward, terminated) -> None:
        n = len(bar)
        index = (self.cursor + np.arange(n)) % self.capacity
        self.bar[index], self.next_bar[index], self.pool_index[index] = bar, next_bar, pool_index
        self.kind[index], self.lo[index], self.hi[index] = targets.kind, targets.lo, targets.hi
        self.action[index], self.reward[index], self.terminated[index] = action, reward, terminated
        self.cursor = (self.cursor + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(self.size, size=n)


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    slope = (end_e - start_e) / duration
    return max(slope * t + start_e, end_e)


def train_agent(
    scorer: Scorer,
    pool: TrainingPool,
    bands: FeatureBands,
    *,
    config: DQNConfig | None = None,
    reward: RewardConfig | None = None,
    agent: TuningAgent | None = None,
    targets: TargetArrays | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    progress_every: int = 50,
    progress_seconds: float = 0.25,
    time_budget_s: float | None = None,
    device: str | torch.device = "cpu",
) -> TuningAgent:
    """Double DQN over episodes drawn from ``pool`` with random level targets (or the fixed ``targets``).

    ``progress`` hears every ``progress_every`` steps and whenever ``progress_seconds`` have passed since it last
    heard (a live line must move even when a step is slow). Passing ``agent`` continues training it (per-seed
    refinement: a one-pattern pool and fixed targets).
    ``time_budget_s`` stops early once spent. Deterministic for ``config.seed`` (torch ops on CPU). ``device``
    holds the networks during training; the returned agent is on the CPU, where tuning runs.
    """
    device = torch.device(device)
    config = config or (agent.config if agent else DQNConfig())
    reward = reward or (agent.reward if agent else RewardConfig())
    rng = np.random.default_rng(config.seed)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        q_network = copy.deepcopy(agent.network) if agent else QNetwork(config)
    finally:
        torch.random.set_rng_state(generator_state)
    q_network.to(device).train()
    optimizer = torch.optim.Adam(q_network.parameters(), lr=config.learning_rate)
    target_network = QNetwork(config).to(device)
    target_network.load_state_dict(q_network.state_dict())
    problem = TuningProblem(scorer, bands, reward, config.max_edits)
    buffer = ReplayBuffer(config.buffer_size)

    def new_episodes(n: int) -> tuple[np.ndarray, TargetArrays]:
        index = rng.integers(len(pool.seed), size=n)
        if targets is not None:
            return index, targets.take(rng.integers(len(targets), size=n))
        return index, sample_level_targets(rng, n, bands, config.number_share)

    pool_index, episode_targets = new_episodes(config.n_envs)
    batch = problem.start(
        pool.seed[pool_index], pool.start[pool_index], episode_targets, pool.step_log_probs[pool_index]
    )
    episode_return = np.zeros(config.n_envs)
    finished_returns: list[float] = []
    finished_success: list[bool] = []
    finished_edits: list[int] = []
    loss_value = float("nan")
    gradient_steps = 0
    started = reported = time.perf_counter()
    for step in range(config.total_steps):
        # ALGO LOGIC: ε-greedy action for every episode
        epsilon = linear_schedule(config.start_e, config.end_e, config.exploration_fraction * config.total_steps, step)
        mask = action_mask(batch.bar, batch.start)
        with torch.no_grad():
            greedy = masked_argmax(q_network(on_device(network_inputs(problem, batch), device)), mask)
        random_actions = _random_legal(rng, mask)
        explore = rng.random(config.n_envs) < epsilon
        actions = np.where(explore, random_actions, greedy)

        bar_before = batch.bar.copy()
        rewards, terminated, truncated = problem.step(batch, actions)
        buffer.add(bar_before, batch.bar, pool_index, batch.targets, actions, rewards, terminated)
        episode_return += rewards

        done = terminated | truncated
        if done.any():
            rows = np.flatnonzero(done)
            met = problem.met(batch)[rows]
            finished_returns.extend(episode_return[rows].tolist())
            finished_success.extend((met == batch.targets.requested[rows]).all(axis=1).tolist())
            finished_edits.extend(batch.edits[rows].tolist())
            fresh_index, fresh_targets = new_episodes(rows.size)
            fresh = problem.start(
                pool.seed[fresh_index], pool.start[fresh_index], fresh_targets, pool.step_log_probs[fresh_index]
            )
            batch.replace_rows(rows, fresh)
            pool_index[rows] = fresh_index
            episode_return[rows] = 0.0

        # ALGO LOGIC: training
        if step >= config.learning_starts:
            for _ in range(config.gradient_steps):
                loss_value = _gradient_step(
                    q_network, target_network, optimizer, problem, pool, buffer, rng, config, device
                )
                gradient_steps += 1
                if gradient_steps % config.target_network_frequency == 0:
                    for target_param, param in zip(target_network.parameters(), q_network.parameters(), strict=True):
                        target_param.data.copy_(config.tau * param.data + (1.0 - config.tau) * target_param.data)

        now = time.perf_counter()
        out_of_time = time_budget_s is not None and now - started > time_budget_s
        due = step % progress_every == 0 or now - reported >= progress_seconds
        if progress and (due or step == config.total_steps - 1 or out_of_time):
            reported = now
            recent = slice(-200, None)
            progress(
                TrainProgress(
                    step=step + 1,
                    total_steps=config.total_steps,
                    epsilon=epsilon,
                    episodes=len(finished_returns),
                    mean_return=float(np.mean(finished_returns[recent])) if finished_returns else float("nan"),
                    success=float(np.mean(finished_success[recent])) if finished_success else float("nan"),
                    mean_edits=float(np.mean(finished_edits[recent])) if finished_edits else float("nan"),
                    loss=loss_value,
                    seconds=time.perf_counter() - started,
                )
            )
        if out_of_time:
            break
    q_network.cpu().eval()
    # Each run is one phase of the agent's training record; whatever else the record holds (notes) is kept.
    metadata = dict(agent.metadata) if agent else {}
    record = dict(metadata.get("training", {}))
    phase = {
        "vector_steps": step + 1,
        "episodes": len(finished_returns),
        "seconds": round(time.perf_counter() - started, 1),
        "final_success_rate": float(np.mean(finished_success[-500:])) if finished_success else None,
    }
    metadata["training"] = {**record, "phases": [*record.get("phases", []), phase]}
    return TuningAgent(q_network, config, reward, bands, metadata)


def _random_legal(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """One uniformly random legal action per row."""
    scores = rng.random(mask.shape)
    scores[~mask] = -1.0
    return scores.argmax(axis=1)


def _gradient_step(
    q_network: QNetwork,
    target_network: QNetwork,
    optimizer: torch.optim.Optimizer,
    problem: TuningProblem,
    pool: TrainingPool,
    buffer: ReplayBuffer,
    rng: np.random.Generator,
    config: DQNConfig,
    device: torch.device,
) -> float:
    index = buffer.sample(rng, config.batch_size)
    targets = TargetArrays(buffer.kind[index].astype(np.int64), buffer.lo[index], buffer.hi[index])
    seed = pool.seed[buffer.pool_index[index]]
    start = pool.start[buffer.pool_index[index]]
    log_probs = pool.step_log_probs[buffer.pool_index[index]]
    bar = buffer.bar[index].astype(np.int64)
    next_bar = buffer.next_bar[index].astype(np.int64)
    with torch.no_grad():
        # Double DQN: the online network picks the next action among the legal ones, the target network scores it.
        next_inputs = on_device(state_inputs(problem, seed, next_bar, start, targets, log_probs), device)
        next_actions = masked_argmax(q_network(next_inputs), action_mask(next_bar, start))
        next_q = target_network(next_inputs, torch.as_tensor(next_actions, device=device))
        not_done = torch.as_tensor(~buffer.terminated[index], dtype=torch.float32, device=device)
        td_target = torch.as_tensor(buffer.reward[index], device=device) + config.gamma * next_q * not_done
    inputs = on_device(state_inputs(problem, seed, bar, start, targets, log_probs), device)
    actions = torch.as_tensor(buffer.action[index], device=device)
    q = q_network(inputs, actions)
    # The correction the network adds to the estimated immediate reward is kept small unless the data insist:
    # noise in it is what makes a learned policy edit more than a greedy one.
    step, category = (actions % N_EDITS) // N_CATEGORIES, actions % N_CATEGORIES
    immediate = inputs["edits"][torch.arange(len(actions), device=device), step, category, IMMEDIATE]
    correction = torch.where(actions == STOP, 0.0, q - immediate)
    loss = F.smooth_l1_loss(q, td_target) + config.residual_penalty * correction.pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(q_network.parameters(), config.max_grad_norm)
    optimizer.step()
    return loss.item()
