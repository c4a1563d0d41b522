"""The tuning agent: a target-conditioned Q-network trained with Double DQN, read top to bottom as CleanRL's dqn.py.

Q-network. A small transformer reads the whole bar: at each step the current category, the seed's category,
whether the step was edited, the position and the model's log-probabilities of all 32 categories there, plus one
token-wide summary of the targets and current feature values. Each of the 512 edits (step t → category c) is then
scored from the state at t, an embedding of c and the edit's row of the :class:`~jaki.tuner.problem.EditTable`: how
each requested feature's distance to its band changes, whether it lands inside, the estimated log-probability change
and the estimated reward. The network outputs a learned correction to that reward (the future value, and the
estimate's error for an autoregressive model), zero-initialised, so that the untrained agent is greedy on the
estimated reward and training only has to learn what greedy misses. Stopping earns 0 and ends the episode, so
Q(s, stop) is exactly 0 and is not learned: the agent stops when no edit is worth more than nothing.

Training (:func:`train_agent`) follows cleanrl/dqn.py with the Double-DQN target of rainbow_atari.py: ε-greedy with a
linear schedule down to ``end_e``, a replay buffer, a target network updated with ``tau``, masks in both acting and
bootstrapping, and only *terminations* (stop) cut the bootstrap; a *truncation* (edit budget spent) still
bootstraps from the real last state. The replay buffer stores transitions compactly and the network inputs are
rebuilt when a batch is sampled. Every knob is a field of :class:`DQNConfig`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jaki.errors import JakiInputError
from jaki.features import FeatureBands, bands_from_json, bands_to_json, tuner_feature_values
from jaki.pattern import N_CATEGORIES, STEPS_PER_BAR
from jaki.tuner.problem import N_EDITS, STOP, EditRules, EditTable, RewardConfig, TuningBatch, TuningProblem
from jaki.tuner.scorer import Scorer
from jaki.tuner.targets import N_FEATURES, NUMBER, TargetArrays, sample_level_targets
from jaki.weights import config_dataclass, load_weights, read_config, save_folder

SHIPPED_AGENT = "assets/tuner"  # inside the jaki package
ABLATION_FOLDER = "ablation"  # inside SHIPPED_AGENT: the agent trained with closeness 0
WEIGHTS_FILE = "agent.safetensors"
CONFIG_FILE = "agent.json"
FORMAT_VERSION = 1
N_EDIT_FEATURES = 3 * N_FEATURES + 3  # an edit's row of the edit table, as the network reads it
GAIN = N_EDIT_FEATURES - 1  # the column holding the estimated reward
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
    programmed_share: float = 0.5  # share of training seeds taken as programmed: ghost notes removed, continued and
    # scored under programmed = 1, as `jaki generate` treats grids, built-in grooves and clips
    width: int = 64  # transformer width
    layers: int = 2  # transformer layers
    heads: int = 4  # attention heads
    action_width: int = 32  # hidden units of the per-edit head
    log_window: int = 200  # finished episodes the reported means (returns, success, edits) are taken over
    seed: int = 0  # seeds the network, the targets, the episodes and exploration

    # What a saved agent.json may hold (checked by weights.config_dataclass; other numbers: finite and ≥ 0). The
    # upper ends are far past any useful value and keep a damaged file from asking for gigabytes.
    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "total_steps": (1, 10**6),
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
        "programmed_share": (0, 1),
        "width": (1, 1024),
        "layers": (1, 16),
        "heads": (1, 64),
        "action_width": (2, 1024),
        "log_window": (1, 10**6),
        "seed": (0, 2**63 - 1),
    }


# --- the Q-network ----------------------------------------------------------------------------------------------
class QNetwork(nn.Module):
    """State (seed, bar, per-step log-probabilities, targets, features) + the edit table → (B, 513) Q-values."""

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
        self.from_edit = nn.Linear(N_EDIT_FEATURES, hidden)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1))
        # The network learns a correction to the estimated immediate reward: untrained, it is the greedy policy.
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(
        self, inputs: dict[str, torch.Tensor], actions: torch.Tensor | None = None, legal: np.ndarray | None = None
    ) -> torch.Tensor:
        """(B, 513) Q-values of every action, or (B,) of the given ``actions`` only (much cheaper: one edit each).
        With ``legal`` (B, 16, 32) bool, only the legal edits are scored and the others get −inf (inference)."""
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
        if actions is None and legal is None:
            hidden = state[:, :, None, :] + self.from_category.weight[None, None] + self.from_edit(inputs["edits"])
            edits = (self.head(hidden)[..., 0] + inputs["edits"][..., GAIN]).reshape(batch, N_EDITS)
            return torch.cat([edits, edits.new_zeros(batch, 1)], dim=1)  # Q(s, stop) = 0
        if actions is None:
            rows, step, category = (torch.as_tensor(index, device=state.device) for index in np.nonzero(legal))
            edits = state.new_full((batch, STEPS_PER_BAR, N_CATEGORIES), -torch.inf)
            edits[rows, step, category] = self._edit_values(state, inputs, rows, step, category)
            return torch.cat([edits.reshape(batch, N_EDITS), edits.new_zeros(batch, 1)], dim=1)
        rows = torch.arange(batch, device=actions.device)
        step, category = (actions % N_EDITS) // N_CATEGORIES, actions % N_CATEGORIES
        return torch.where(actions == STOP, 0.0, self._edit_values(state, inputs, rows, step, category))

    def _edit_values(
        self,
        state: torch.Tensor,
        inputs: dict[str, torch.Tensor],
        rows: torch.Tensor,
        step: torch.Tensor,
        category: torch.Tensor,
    ) -> torch.Tensor:
        """Q-values (K,) of K edits (row, step → category), from the per-step state (B, 16, H)."""
        # Row gathers of the flattened tables (index_select) and one addmm: twice as fast as indexing and adding.
        edits = inputs["edits"]
        features = edits.reshape(-1, edits.shape[-1]).index_select(
            0, (rows * STEPS_PER_BAR + step) * N_CATEGORIES + category
        )
        hidden = (
            state.reshape(-1, state.shape[-1]).index_select(0, rows * STEPS_PER_BAR + step)
            + self.from_category.weight.index_select(0, category)
            + self.from_edit.bias
        )
        hidden = torch.addmm(hidden, features, self.from_edit.weight.T)
        return self.head(hidden)[:, 0] + features[:, GAIN]


def network_inputs(
    problem: TuningProblem, batch: TuningBatch, table: EditTable | None = None
) -> dict[str, torch.Tensor]:
    """The tensors the Q-network reads: the state (``problem.observation``) and the edit table (``problem.edit_table``
    of ``batch``, built when not given), one row per edit."""
    observation = problem.observation(batch)
    table = table or problem.edit_table(batch)
    edits = np.concatenate(
        [
            table.distance_gain,
            table.distance_left,
            table.lands,
            (table.log_likelihood_change / 5.0)[..., None],
            (batch.step_log_probs / 10.0)[..., None],
            table.gain[..., None],
        ],
        axis=-1,
        dtype=np.float32,
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


# --- the agent, saved and loaded ----------------------------------------------------------------------------------
@dataclass
class TuningAgent:
    """A trained Q-network with everything needed to use it again: configs, bands, and its provenance."""

    network: QNetwork
    config: DQNConfig
    reward: RewardConfig
    bands: FeatureBands
    metadata: dict

    def problem(
        self, scorer: Scorer, *, rules: EditRules | None = None, exact_likelihood: bool = False
    ) -> TuningProblem:
        return TuningProblem(
            scorer, self.bands, self.reward, self.config.max_edits, rules=rules, exact_likelihood=exact_likelihood
        )

    @torch.no_grad()
    def q_values(self, problem: TuningProblem, batch: TuningBatch) -> torch.Tensor:
        return self.network(network_inputs(problem, batch))

    def save(self, directory: Path, *, overwrite: bool = False) -> None:
        """``directory/agent.safetensors`` + ``directory/agent.json`` (configs, bands, provenance), written by the
        model's own writer (same checks, same file modes)."""
        document = {
            "format_version": FORMAT_VERSION,
            "dqn": asdict(self.config),
            "reward": asdict(self.reward),
            "bands": bands_to_json(self.bands),
            **self.metadata,
        }
        save_folder(
            self.network, document, directory, weights_file=WEIGHTS_FILE, config_file=CONFIG_FILE, overwrite=overwrite
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


# --- training -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingPool:
    """The (seed bar, untuned bar 2) pairs episodes start from, with the model's per-step view and the allowed
    categories of each."""

    seed: np.ndarray  # (N, 16)
    start: np.ndarray  # (N, 16)
    step_log_probs: np.ndarray  # (N, 16, 32) float32
    allowed: np.ndarray  # (N, 16, 32) bool

    @classmethod
    def build(cls, problem: TuningProblem, seed: np.ndarray, start: np.ndarray, chunk: int = 2048) -> TrainingPool:
        seed, start = np.asarray(seed, dtype=np.int64), np.asarray(start, dtype=np.int64)
        batches = [
            problem.start(seed[i : i + chunk], start[i : i + chunk], _no_targets(len(seed[i : i + chunk])))
            for i in range(0, len(seed), chunk)
        ]
        return cls.of(TuningBatch.concat(batches))

    @classmethod
    def of(cls, batch: TuningBatch) -> TrainingPool:
        return cls(batch.seed, batch.start, batch.step_log_probs, batch.allowed)

    @classmethod
    def concat(cls, pools: list[TrainingPool]) -> TrainingPool:
        """One pool of several (e.g. seeds scored under different conditions: each row keeps its own view)."""
        return cls(**{f.name: np.concatenate([getattr(pool, f.name) for pool in pools]) for f in fields(cls)})


def _no_targets(n: int) -> TargetArrays:
    return TargetArrays(np.full((n, N_FEATURES), -1), np.zeros((n, N_FEATURES)), np.zeros((n, N_FEATURES)))


@dataclass(frozen=True)
class TrainProgress:
    """What the progress callback receives (see ``train_agent``'s ``progress_every`` and ``progress_seconds``)."""

    step: int
    total_steps: int
    epsilon: float
    episodes: int
    mean_return: float  # of the last finished episodes
    success: float  # share of those that ended with every request met
    mean_edits: float
    loss: float
    seconds: float
    q_taken: float = float("nan")  # mean Q-value of the actions taken at the reported step
    q_target: float = float("nan")  # mean TD target of the last gradient step


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

    def states(self, pool: TrainingPool, index: np.ndarray, bars: np.ndarray) -> TuningBatch:
        """The replayed states of ``index`` with the given bars (``self.bar`` or ``self.next_bar``) as a batch."""
        at = self.pool_index[index]
        bar = bars[index].astype(np.int64)
        unused = np.zeros(len(index))
        return TuningBatch(
            seed=pool.seed[at],
            bar=bar,
            start=pool.start[at],
            targets=TargetArrays(self.kind[index].astype(np.int64), self.lo[index], self.hi[index]),
            step_log_probs=pool.step_log_probs[at],
            allowed=pool.allowed[at],
            values=tuner_feature_values(bar),
            log_likelihood=unused,
            start_log_likelihood=unused,
            potential=unused,
            edits=unused.astype(np.int64),
        )


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
    rules: EditRules | None = None,
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
    problem = TuningProblem(scorer, bands, reward, config.max_edits, rules=rules)
    buffer = ReplayBuffer(config.buffer_size)

    def new_episodes(n: int) -> tuple[np.ndarray, TuningBatch]:
        index = rng.integers(len(pool.seed), size=n)
        if targets is not None:
            chosen = targets.take(rng.integers(len(targets), size=n))
        else:
            chosen = sample_level_targets(rng, n, bands, config.number_share)
        episodes = problem.start(
            pool.seed[index], pool.start[index], chosen, pool.step_log_probs[index], allowed=pool.allowed[index]
        )
        return index, episodes

    pool_index, batch = new_episodes(config.n_envs)
    episode_return = np.zeros(config.n_envs)
    finished_returns: list[float] = []
    finished_success: list[bool] = []
    finished_edits: list[int] = []
    loss_value = q_target = float("nan")
    gradient_steps = 0
    started = reported = time.perf_counter()
    for step in range(config.total_steps):
        # ALGO LOGIC: ε-greedy action for every episode
        epsilon = linear_schedule(config.start_e, config.end_e, config.exploration_fraction * config.total_steps, step)
        mask = problem.action_mask(batch)
        with torch.no_grad():
            q_values = q_network(on_device(network_inputs(problem, batch), device))
        greedy = masked_argmax(q_values, mask)
        explore = rng.random(config.n_envs) < epsilon
        actions = np.where(explore, _random_legal(rng, mask), greedy)

        bar_before = batch.bar.copy()
        rewards, terminated, truncated = problem.step(batch, actions)
        buffer.add(bar_before, batch.bar, pool_index, batch.targets, actions, rewards, terminated)
        episode_return += rewards

        done = terminated | truncated
        if done.any():
            rows = np.flatnonzero(done)
            finished_returns.extend(episode_return[rows].tolist())
            finished_success.extend((~problem.unmet(batch)[rows]).tolist())
            finished_edits.extend(batch.edited[rows].sum(axis=1).tolist())
            fresh_index, fresh = new_episodes(rows.size)
            batch.replace_rows(rows, fresh)
            pool_index[rows] = fresh_index
            episode_return[rows] = 0.0

        # ALGO LOGIC: training
        if step >= config.learning_starts:
            for _ in range(config.gradient_steps):
                index = buffer.sample(rng, config.batch_size)
                with torch.no_grad():
                    # Double DQN: the online network picks the next legal action, the target network scores it.
                    next_states = buffer.states(pool, index, buffer.next_bar)
                    next_inputs = on_device(network_inputs(problem, next_states), device)
                    next_actions = masked_argmax(q_network(next_inputs), problem.action_mask(next_states))
                    next_q = target_network(next_inputs, torch.as_tensor(next_actions, device=device))
                    not_done = torch.as_tensor(~buffer.terminated[index], dtype=torch.float32, device=device)
                    td_target = torch.as_tensor(buffer.reward[index], device=device) + config.gamma * next_q * not_done
                inputs = on_device(network_inputs(problem, buffer.states(pool, index, buffer.bar)), device)
                taken = torch.as_tensor(buffer.action[index], device=device)
                q = q_network(inputs, taken)
                # The correction the network adds to the estimated reward is kept small unless the data insist:
                # noise in it is what makes a learned policy edit more than a greedy one.
                t, c = (taken % N_EDITS) // N_CATEGORIES, taken % N_CATEGORIES
                estimated = inputs["edits"][torch.arange(len(taken), device=device), t, c, GAIN]
                correction = torch.where(taken == STOP, 0.0, q - estimated)
                loss = F.smooth_l1_loss(q, td_target) + config.residual_penalty * correction.pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(q_network.parameters(), config.max_grad_norm)
                optimizer.step()
                loss_value, q_target = loss.item(), td_target.mean().item()
                gradient_steps += 1
                if gradient_steps % config.target_network_frequency == 0:
                    for target_param, param in zip(target_network.parameters(), q_network.parameters(), strict=True):
                        target_param.data.copy_(config.tau * param.data + (1.0 - config.tau) * target_param.data)

        now = time.perf_counter()
        out_of_time = time_budget_s is not None and now - started > time_budget_s
        due = step % progress_every == 0 or now - reported >= progress_seconds
        if progress and (due or step == config.total_steps - 1 or out_of_time):
            reported = now
            recent = slice(-config.log_window, None)
            taken_q = q_values.gather(1, torch.as_tensor(actions, device=q_values.device)[:, None])
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
                    q_taken=float(taken_q.mean()),
                    q_target=q_target,
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
        "final_success_rate": float(np.mean(finished_success[-config.log_window :])) if finished_success else None,
        "final_loss": None if np.isnan(loss_value) else round(loss_value, 5),
        "final_q_target": None if np.isnan(q_target) else round(q_target, 5),
    }
    metadata["training"] = {**record, "phases": [*record.get("phases", []), phase]}
    return TuningAgent(q_network, config, reward, bands, metadata)


def _random_legal(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """One uniformly random legal action per row."""
    scores = rng.random(mask.shape)
    scores[~mask] = -1.0
    return scores.argmax(axis=1)
