"""The tuning agent: a target-conditioned Q-network trained with Double DQN, CleanRL style, on many episodes at once.

Q-network. A small transformer reads the whole bar: at each step the current category, the seed's category,
whether the step was edited, the position and the model's log-probabilities of all 32 categories there, plus one
token-wide summary of the targets and current feature values. Each of the 512 edits (step t → category c) is then
scored from the state at t, an embedding of c and the edit's exact consequences, computed cheaply for all 512 at
once: how each requested feature's distance to its band changes, whether it lands inside, and the log-probability
change the untuned bar's per-step view predicts, which together give an estimate of the immediate reward. The
network outputs a learned correction to that estimate (the future value, and the estimate's error for an
autoregressive model), zero-initialised, so that the untrained agent is greedy on the estimated reward and training
only has to learn what greedy misses. Stopping earns 0 and ends the episode, so Q(s, stop) is exactly 0 and is not
learned: the agent stops when no edit is worth more than nothing.

Training: :mod:`jaki.tuner.training`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from jaki.errors import JakiInputError
from jaki.features import FeatureBands, bands_from_json, bands_to_json, tuner_feature_values
from jaki.io import atomic_write, check_output_folder
from jaki.pattern import N_CATEGORIES, STEPS_PER_BAR
from jaki.tuner.env import N_EDITS, STOP, TuningBatch, TuningProblem, action_mask, candidate_values
from jaki.tuner.reward import RewardConfig, band_distances
from jaki.tuner.scorer import Scorer
from jaki.tuner.targets import N_FEATURES, NUMBER, TargetArrays
from jaki.weights import config_dataclass, load_weights, read_config

SHIPPED_AGENT = "assets/tuner"  # inside the jaki package
ABLATION_FOLDER = "ablation"  # inside SHIPPED_AGENT: the agent trained with closeness 0
WEIGHTS_FILE = "agent.safetensors"
CONFIG_FILE = "agent.json"
FORMAT_VERSION = 1
N_ACTION_FEATURES = 3 * N_FEATURES + 3
IMMEDIATE = N_ACTION_FEATURES - 1  # the edit feature holding the estimated immediate reward
N_TARGET_COLUMNS = NUMBER + 2 + 2  # kind one-hot (skip, low, medium, high, number), band lo and hi


@dataclass
class DQNConfig:
    """Every hyper-parameter of the agent and its training."""

    total_steps: int = 4000  # vectorised environment steps (each advances every one of n_envs episodes)
    n_envs: int = 64  # episodes run side by side
    max_edits: int = 16  # edit budget of an episode (then truncation)
    buffer_size: int = 200_000  # replay buffer capacity, transitions
    batch_size: int = 256  # transitions per gradient step
    learning_rate: float = 3e-4  # Adam step size
    gamma: float = 0.99  # discount
    tau: float = 0.01  # target network update rate (1 = hard copy, < 1 = Polyak averaging)
    target_network_frequency: int = 1  # gradient steps between target updates
    start_e: float = 0.5  # ε at the start (the untrained network already acts greedily on the immediate reward)
    end_e: float = 0.02  # ε at the end of the schedule (then held)
    exploration_fraction: float = 0.4  # share of total_steps over which ε falls linearly
    residual_penalty: float = 0.1  # weight of the squared learned correction to the immediate reward in the loss
    learning_starts: int = 100  # vectorised steps of pure exploration before learning
    gradient_steps: int = 1  # gradient steps per vectorised step
    max_grad_norm: float = 10.0  # gradient clipping
    number_share: float = 0.1  # share of requested features that ask for a number instead of a level
    width: int = 64  # transformer width
    layers: int = 2  # transformer layers
    heads: int = 4  # attention heads
    action_width: int = 32  # hidden units of the per-edit head
    seed: int = 0  # seeds the network, the targets, the episodes and exploration

    # What a saved agent.json may hold (checked by weights.config_dataclass; other numbers: finite and ≥ 0). The
    # upper ends are far past any useful value and keep a damaged file from asking for gigabytes.
    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "total_steps": (1, 10**8),
        "n_envs": (1, 4096),
        "max_edits": (1, 64),
        "buffer_size": (1, 10**7),
        "batch_size": (1, 65536),
        "learning_rate": (0, 1),
        "gamma": (0, 1),
        "tau": (0, 1),
        "target_network_frequency": (1, 10**8),
        "start_e": (0, 1),
        "end_e": (0, 1),
        "exploration_fraction": (0, 1),
        "gradient_steps": (1, 1000),
        "number_share": (0, 1),
        "width": (1, 1024),
        "layers": (1, 16),
        "heads": (1, 64),
        "action_width": (2, 1024),
        "seed": (0, 2**63 - 1),
    }


class QNetwork(nn.Module):
    """State (seed, bar, per-step log-probabilities, targets, features) + per-edit features → (B, 513) Q-values."""

    def __init__(self, config: DQNConfig) -> None:
        super().__init__()
        width = config.width
        self.category = nn.Embedding(N_CATEGORIES, width)
        self.seed_category = nn.Embedding(N_CATEGORIES, width)
        self.position = nn.Parameter(torch.zeros(STEPS_PER_BAR, width))
        self.edited = nn.Embedding(2, width)
        self.step_view = nn.Linear(N_CATEGORIES, width)
        self.summary = nn.Linear(N_FEATURES * (N_TARGET_COLUMNS + 2), width)
        layer = nn.TransformerEncoderLayer(width, config.heads, 2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        hidden = config.action_width
        self.from_state = nn.Linear(width, hidden)
        self.from_category = nn.Embedding(N_CATEGORIES, hidden)
        self.from_edit = nn.Linear(N_ACTION_FEATURES, hidden)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1))
        # The network learns a correction to the estimated immediate reward: untrained, it is the greedy policy.
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, inputs: dict[str, torch.Tensor], actions: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 513) Q-values of every action, or (B,) of the given ``actions`` only (much cheaper: one edit each)."""
        batch = inputs["bar"].shape[0]
        summary = self.summary(torch.cat([inputs["targets"], inputs["features"]], dim=-1).reshape(batch, -1))
        tokens = (
            self.category(inputs["bar"])
            + self.seed_category(inputs["seed"])
            + self.edited(inputs["edited"])
            + self.position
            + self.step_view(inputs["step_log_probs"] / 10.0)
            + summary[:, None, :]
        )  # (B, 16, W)
        state = self.from_state(self.encoder(tokens))  # (B, 16, H)
        if actions is None:
            hidden = state[:, :, None, :] + self.from_category.weight[None, None] + self.from_edit(inputs["edits"])
            edits = (self.head(hidden)[..., 0] + inputs["edits"][..., IMMEDIATE]).reshape(batch, N_EDITS)
            return torch.cat([edits, edits.new_zeros(batch, 1)], dim=1)  # Q(s, stop) = 0
        rows = torch.arange(batch, device=actions.device)
        step, category = (actions % N_EDITS) // N_CATEGORIES, actions % N_CATEGORIES
        features = inputs["edits"][rows, step, category]  # (B, F)
        hidden = state[rows, step] + self.from_category(category) + self.from_edit(features)
        return torch.where(actions == STOP, 0.0, self.head(hidden)[:, 0] + features[:, IMMEDIATE])


def network_inputs(
    problem: TuningProblem, batch: TuningBatch, rows: np.ndarray | None = None
) -> dict[str, torch.Tensor]:
    """Tensors the Q-network reads for the episodes ``rows`` of a batch (all when None)."""
    rows = np.arange(len(batch)) if rows is None else rows
    return state_inputs(
        problem,
        batch.seed[rows],
        batch.bar[rows],
        batch.start[rows],
        batch.targets.take(rows),
        batch.step_log_probs[rows],
        batch.values[rows],
    )


def state_inputs(
    problem: TuningProblem,
    seed: np.ndarray,
    bar: np.ndarray,
    start: np.ndarray,
    targets: TargetArrays,
    step_log_probs: np.ndarray,
    values: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    """Build the Q-network's inputs from raw arrays (also used on replayed transitions)."""
    values = tuner_feature_values(bar) if values is None else values
    unused = np.zeros(len(bar))
    observation = problem.observation(
        TuningBatch(seed, bar, start, targets, step_log_probs, values, unused, unused, unused, unused.astype(np.int64))
    )
    requested = targets.requested[:, None, None, :]
    scales = problem.scales
    now = band_distances(values, targets.lo, targets.hi)[:, None, None, :]
    per_edit = targets.per_edit()
    after = band_distances(candidate_values(bar, values), per_edit.lo, per_edit.hi)
    gain = np.where(requested, (now - after) / scales, 0.0)
    left = np.where(requested, np.minimum(after / scales, 4.0), 0.0)
    lands = np.where(requested, (after == 0).astype(float) - (now == 0), 0.0)
    current = np.take_along_axis(step_log_probs, bar[..., None], axis=-1)  # (B, 16, 1)
    likelihood_change = step_log_probs - current  # (B, 16, 32)
    reward = problem.reward
    immediate = (gain + reward.met_bonus * lands).sum(axis=-1) + reward.closeness * likelihood_change - reward.edit_cost
    edits = np.concatenate(
        [
            gain,
            left,
            lands,
            (likelihood_change / 5.0)[..., None],
            (step_log_probs / 10.0)[..., None],
            immediate[..., None],
        ],
        axis=-1,
    )
    as_long = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long)  # noqa: E731
    as_float = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    return {
        "seed": as_long(observation["seed"]),
        "bar": as_long(observation["bar"]),
        "edited": as_long(observation["edited"]),
        "targets": as_float(observation["targets"]),
        "features": as_float(observation["features"]),
        "step_log_probs": as_float(observation["step_log_probs"]),
        "edits": as_float(edits),
    }


def masked_argmax(q_values: torch.Tensor, mask: np.ndarray) -> np.ndarray:
    legal = torch.as_tensor(mask, device=q_values.device)
    return q_values.masked_fill(~legal, -torch.inf).argmax(dim=1).cpu().numpy()


def on_device(inputs: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {name: tensor.to(device, non_blocking=True) for name, tensor in inputs.items()}


@dataclass
class TuningAgent:
    """A trained Q-network with everything needed to use it again: configs, bands, and its provenance."""

    network: QNetwork
    config: DQNConfig
    reward: RewardConfig
    bands: FeatureBands
    metadata: dict

    def problem(self, scorer: Scorer, *, exact_likelihood: bool = False) -> TuningProblem:
        return TuningProblem(scorer, self.bands, self.reward, self.config.max_edits, exact_likelihood=exact_likelihood)

    @torch.no_grad()
    def q_values(self, problem: TuningProblem, batch: TuningBatch, rows: np.ndarray | None = None) -> torch.Tensor:
        return self.network(network_inputs(problem, batch, rows))

    @torch.no_grad()
    def run_greedy(
        self, problem: TuningProblem, batch: TuningBatch, *, checked: int = 0, stop_margin: float = 0.0
    ) -> None:
        """One greedy episode for every row of ``batch`` (in place): best masked action until stop or budget.

        With ``checked`` > 0, the ``checked`` best actions by Q are re-scored with the model's exact log-likelihood
        (one batched model call per step): their Q-values swap the log-likelihood change estimated from the untuned
        bar's per-step view for the exact one, and the batch's log-likelihoods end exact. An edit is made only when
        worth more than ``stop_margin``: the best of many noisy Q-values is biased upward, and stopping is exact.
        """
        checked = checked if problem.reward.closeness > 0 else 0
        exact = batch.log_likelihood.copy()  # exact for the untuned bars
        active = np.ones(len(batch), dtype=bool)
        while active.any():
            rows = np.flatnonzero(active)
            mask = action_mask(batch.bar[rows], batch.start[rows])
            q_values = self.q_values(problem, batch, rows)
            q_values[:, :N_EDITS] -= stop_margin
            actions = np.full(len(batch), STOP)
            actions[rows] = masked_argmax(q_values, mask)
            # Only an edit the agent would make is checked: deciding to stop needs no model call.
            check = rows[actions[rows] != STOP] if checked else rows[:0]
            if check.size:
                inside = np.isin(rows, check)
                actions[check], exact[check] = self._checked_choice(
                    problem, batch, check, q_values[torch.as_tensor(inside)], mask[inside], exact[check], checked
                )
            _, terminated, truncated = problem.step(batch, actions)
            active &= ~(terminated | truncated)
        if checked:
            batch.log_likelihood[:] = exact

    def _checked_choice(
        self,
        problem: TuningProblem,
        batch: TuningBatch,
        rows: np.ndarray,
        q_values: torch.Tensor,
        mask: np.ndarray,
        exact: np.ndarray,
        checked: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best of the top ``checked`` actions after swapping in exact log-likelihood changes → (actions, exact
        log-likelihood of the bars they lead to)."""
        scores, top = q_values.masked_fill(~torch.as_tensor(mask), -torch.inf).topk(checked, dim=1)
        scores, top = scores.numpy().astype(np.float64), top.numpy()
        edit = (top != STOP) & np.isfinite(scores)
        step, category = top // N_CATEGORIES % STEPS_PER_BAR, top % N_CATEGORIES
        bars = np.repeat(batch.bar[rows][:, None, :], checked, axis=1)  # (R, k, 16)
        bars[edit, step[edit]] = category[edit]
        seeds = np.repeat(batch.seed[rows][:, None, :], checked, axis=1)
        likelihood = problem.scorer(seeds.reshape(-1, STEPS_PER_BAR), bars.reshape(-1, STEPS_PER_BAR)).reshape(
            len(rows), checked
        )
        view = batch.step_log_probs[rows]  # (R, 16, 32)
        r = np.arange(len(rows))[:, None]
        estimated = view[r, step, category] - view[r, step, batch.bar[rows][r, step]]
        scores = np.where(edit, scores + problem.reward.closeness * (likelihood - exact[:, None] - estimated), scores)
        scores = np.where(top == STOP, 0.0, scores)
        best = scores.argmax(axis=1)
        stop = scores[np.arange(len(rows)), best] <= 0.0
        actions = np.where(stop, STOP, top[np.arange(len(rows)), best])
        return actions, np.where(stop, exact, likelihood[np.arange(len(rows)), best])

    def save(self, directory: Path, *, overwrite: bool = False) -> None:
        """``directory/agent.safetensors`` + ``directory/agent.json`` (configs, bands, provenance)."""
        directory = Path(directory)
        check_output_folder(directory, (WEIGHTS_FILE, CONFIG_FILE), overwrite=overwrite)
        directory.mkdir(exist_ok=True)
        document = {
            "format_version": FORMAT_VERSION,
            "dqn": asdict(self.config),
            "reward": asdict(self.reward),
            "bands": bands_to_json(self.bands),
            **self.metadata,
        }
        tensors = {name: t.detach().contiguous() for name, t in self.network.state_dict().items()}
        atomic_write(directory / WEIGHTS_FILE, lambda path: save_file(tensors, str(path)), overwrite=overwrite)
        atomic_write(
            directory / CONFIG_FILE,
            lambda path: path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8"),
            overwrite=overwrite,
        )


def load_agent(directory: Path | str | None = None, *, ablation: bool = False) -> TuningAgent:
    """Load a saved agent folder; ``None`` loads the agent shipped in the package (``jaki/assets/tuner``), or with
    ``ablation`` the one shipped beside it that was trained without the log-likelihood term."""
    if directory is None:
        shipped = SHIPPED_AGENT + ("/" + ABLATION_FOLDER if ablation else "")
        with resources.as_file(resources.files("jaki").joinpath(shipped)) as folder:
            return _load(Path(folder))
    return _load(Path(directory))


def _load(directory: Path) -> TuningAgent:
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise JakiInputError(f"{directory}: not an agent folder (expected {CONFIG_FILE} + {WEIGHTS_FILE})")
    document = read_config(config_path)
    if document.get("format_version") != FORMAT_VERSION:
        raise JakiInputError(f"{config_path}: not a format-{FORMAT_VERSION} agent config")
    config = config_dataclass(DQNConfig, document.get("dqn"), config_path, key="dqn", what="agent config")
    reward = config_dataclass(RewardConfig, document.get("reward"), config_path, key="reward", what="reward config")
    bands = bands_from_json(document.get("bands"))
    network = load_weights(lambda: QNetwork(config), config_path, weights_path, what="agent config")
    metadata = {k: v for k, v in document.items() if k not in ("format_version", "dqn", "reward", "bands")}
    return TuningAgent(network, config, reward, bands, metadata)
