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
  stops, the safety net (:func:`jaki.tuner.search.repair`: feature-greedy edits, likelier first) finishes any
  request still unmet. Then a likelihood polish (:func:`jaki.tuner.search.polish`, two passes) re-chooses the edits
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

The reward (one place: :mod:`jaki.tuner.reward`) is the change of a potential: distance of each requested feature
to its band (in band widths; 0 inside) plus a bonus for landing inside, plus ``closeness`` × log p(bar | seed)
(RL Tuner's 1/c; ``RewardConfig(closeness=…)``), minus a small fee per edit. The environment
(:class:`jaki.tuner.env.TunerEnv`) is a gymnasium ``Env``; training is :func:`jaki.tuner.agent.train_agent`;
evaluation is :func:`jaki.tuner.evaluation.evaluate_tuner` (``jaki evaluate-tuner``).
"""

from jaki.tuner.agent import DQNConfig, TuningAgent, load_agent
from jaki.tuner.reward import RewardConfig
from jaki.tuner.scorer import ModelScorer, Scorer, TableScorer
from jaki.tuner.targets import Targets
from jaki.tuner.training import TrainProgress, train_agent
from jaki.tuner.tuning import METHODS, Edit, RefineConfig, TuneResult, tune

__all__ = [
    "METHODS",
    "DQNConfig",
    "Edit",
    "ModelScorer",
    "RefineConfig",
    "RewardConfig",
    "Scorer",
    "TableScorer",
    "Targets",
    "TrainProgress",
    "TuneResult",
    "TuningAgent",
    "load_agent",
    "train_agent",
    "tune",
]
