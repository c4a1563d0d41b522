"""The tuner: edit a continuation's bar 2 toward feature targets while keeping it likely under the model.

Public API (what ``jaki generate`` calls)::

    from jaki.tuner import Targets, tune, load_agent
    from jaki.weights import load_model

    loaded = load_model()                                   # the continuation model (and its level bands)
    result = tune(seed_bar, continuation, Targets(drum_density="high", syncopation=7),
                  model=loaded.model, method="agent")       # agent = the shipped pretrained agent
    result.pattern, result.edits, result.values, result.met, result.log_likelihood, result.seconds

``Targets``: per feature (cymbal_density, drum_density, syncopation, repetition) ``None`` (skip), a level
``"low"``/``"medium"``/``"high"`` (the model's bands) or a number (± 0.5 for the counts, ± 0.05 for repetition).
``Targets.from_mapping({"drum_density": "high", "syncopation": "7"})`` parses text as typed.

Methods (``method=``):

* ``"agent"``: one greedy episode of the pretrained target-conditioned Double-DQN agent (``load_agent()``, shipped
  in ``jaki/assets/tuner``). At each step its 4 best edits by Q are re-scored with the model's exact
  log-likelihood (one batched model call; only a change worse than the agent's estimate is charged), and once it
  stops, the safety net (:func:`jaki.tuner.methods.repair`: feature-greedy edits, likelier first) finishes any
  request still unmet. Then a likelihood polish (:func:`jaki.tuner.methods.polish`, two passes) re-chooses the edits
  by the exact log-likelihood: per pass, the 8 most promising alternatives (another category for an edited step,
  its untuned category back, the edit moved to an unedited step, or one more edit) that keep every met request
  inside its band are scored in one batched model call, and the one that raises the potential minus edit fees most
  is made. It never breaks a met request; it adds an edit only when the likelihood pays its fee. Milliseconds;
  ``TuneResult.repaired_edits`` says what the net added.
* ``"refine"``: per-seed refinement: the agent keeps training on this one pattern and these targets for
  ``RefineConfig(steps, seconds)``, reporting ``TrainProgress`` to ``progress``; the better episode is kept,
  then polished as above.
* ``"greedy"``: hill-climbing on the same reward (best single edit each step, every edit scored by the model).
* ``"random"``: random edits until every request is met or ``budget`` edits; ``"none"``: the continuation as is.

``keep=("kick", "snare")``: parts tuning never changes. ``EditRules``: at most two of snare / closed / open / toms on
a tuned step (two hands) and one part added to the untuned step (no stacked unisons), unless the untuned bar had that
step, and the untuned bar's kick on beat 1 and backbeat snares kept. Every method obeys them (they are the problem's
action mask).

The package reads as problem → algorithm → ways to tune:

* :mod:`jaki.tuner.problem`: targets as bands, reward config and rules, the potential, the met rule, and the
  :class:`~jaki.tuner.problem.EditTable` of all 512 edits of a batch: the only place the reward is assembled.
* :mod:`jaki.tuner.dqn`: the Double DQN, CleanRL style: ``DQNConfig``, the Q-network reading the edit table, replay,
  the training loop (:func:`~jaki.tuner.dqn.train_agent`), saving and loading the agent.
* :mod:`jaki.tuner.methods`: the ways to tune (agent episode, greedy, random, repair, polish, refine), ``tune``.
* :mod:`jaki.tuner.env`: the same problem as a gymnasium ``Env`` (imported only where wanted);
  :mod:`jaki.tuner.evaluation`: ``jaki evaluate-tuner``; :mod:`jaki.tuner.pretrain`: the shipped agent's training.
"""

from jaki.tuner.dqn import DQNConfig, TrainProgress, TuningAgent, load_agent, train_agent
from jaki.tuner.methods import METHODS, Edit, MethodConfig, RefineConfig, TuneResult, tune
from jaki.tuner.problem import EditRules, RewardConfig, keep_mask
from jaki.tuner.scorer import ModelScorer, Scorer, TableScorer
from jaki.tuner.targets import Targets

__all__ = [
    "METHODS",
    "DQNConfig",
    "Edit",
    "EditRules",
    "MethodConfig",
    "ModelScorer",
    "RefineConfig",
    "RewardConfig",
    "Scorer",
    "TableScorer",
    "Targets",
    "TrainProgress",
    "TuneResult",
    "TuningAgent",
    "keep_mask",
    "load_agent",
    "train_agent",
    "tune",
]
