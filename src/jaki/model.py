"""The continuation model: bar 1 → a distribution over bar 2, one of 32 hit categories per 16th step.

Two architectures share one interface (``forward`` teacher-forced logits, ``log_likelihood``, ``generate``):

* ``"lstm"`` (default): an LSTM encoder reads bar 1's category embeddings (optionally in both directions); an
  autoregressive LSTM decoder, started from the encoder's final state, predicts bar 2 one step at a time from its
  own previous category and, at the same step, bar 1's category and the encoder's output there. Drummers mostly
  repeat or vary the bar they just played, so seeing bar 1 aligned step by step is what the decoder needs most
  (ANCHORS.md: NLL 1.15 → 1.04 when it is fed).
* ``"orig"``: the original jaki's shape (FEATURES.md §5): LSTM 250 → LSTM 100 (last state) → repeated 16× →
  LSTM 16 → 32-way softmax. Its per-step distributions ignore bar 2, so the steps are independent given bar 1.

Both are trained with cross-entropy; the original's MSE-on-softmax loss is not kept.

Both end in a fixed ``logit_offset`` (zeros while training): ``set_logit_adjustment`` fills it after training with
-τ·log(category frequency) — logit adjustment (Menon et al., ICLR 2021). A model trained by cross-entropy puts its
argmax on the common categories; the offset moves it toward the rare ones (open cymbals, toms), whose hits the plain
argmax under-plays, at a small cost in likelihood (the README's figures measure both).
The offset is part of the model: log-likelihoods, sampling and the argmax all see the same adjusted distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jaki.conditions import CONDITION_SIZES, codes_for
from jaki.decoding import KEPT_PARTS, Decoding
from jaki.pattern import CATEGORY_PARTS, N_CATEGORIES, PARTS, STEPS_PER_BAR

ARCHITECTURES = ("lstm", "orig")

# The lstm's bar-1 encoding: per-step context (B, 16, C) and the decoder's initial (h, c), each (1, B, H).
Encoding = tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class ModelConfig:
    """Every size of the model; saved beside the weights so that the file alone rebuilds the model."""

    arch: str = "lstm"  # "lstm" (encoder + autoregressive decoder) or "orig" (the original jaki's shape)
    embed_dim: int = 64  # lstm: size of a category embedding (bar 1, and the decoder's previous output)
    hidden: int = 128  # lstm: hidden units of the decoder and of each encoder direction
    bidirectional: bool = True  # lstm: the encoder also reads bar 1 backwards
    feed_bar1: bool = True  # lstm: the decoder also sees bar 1's category and encoder output at the same step
    copy_gate: bool = True  # lstm: a learned, state-dependent bonus on the logit of bar 1's category at the step
    dropout: float = 0.5  # lstm: dropout on the embeddings and the decoder's outputs
    # lstm: what bar 2 is asked to be besides "a continuation of bar 1" (``jaki.conditions``): one embedding per
    # condition, summed and fed to the decoder at every step. () = unconditioned, as models before them.
    conditions: tuple[str, ...] = ()
    orig_encoder: tuple[int, int] = (250, 100)  # orig: units of its two encoder LSTMs
    orig_decoder: int = 16  # orig: units of its decoder LSTM
    orig_dropout: float = 0.2  # orig: dropout on the second encoder LSTM's input (the original's 0.2)

    # What a saved config.json may hold (checked by weights.config_dataclass; other numbers: finite and ≥ 0). The
    # upper ends are far past any useful size and keep a damaged file from asking for gigabytes.
    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "embed_dim": (1, 1024),
        "hidden": (1, 1024),
        "dropout": (0, 1),
        "orig_encoder": (1, 1024),
        "orig_decoder": (1, 1024),
        "orig_dropout": (0, 1),
    }

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        self.orig_encoder = tuple(self.orig_encoder)
        self.conditions = tuple(self.conditions)
        unknown = [name for name in self.conditions if name not in CONDITION_SIZES]
        if unknown:
            raise ValueError(f"unknown condition(s) {unknown}; known: {sorted(CONDITION_SIZES)}")
        if self.conditions and self.arch != "lstm":
            raise ValueError("only the lstm architecture takes conditions")


class ContinuationModel(nn.Module):
    """p(bar 2 | bar 1) over category sequences; see the module docstring for the two architectures.

    ``log_likelihood`` and ``generate`` are inference doors: they run without gradients and expect ``eval()``
    mode (``weights.load_model`` returns the model in it). They accept tensors or numpy arrays of category indices.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("logit_offset", torch.zeros(N_CATEGORIES))
        if config.arch == "lstm":
            self._build_lstm(config)
        else:
            self._build_orig(config)

    def _build_lstm(self, config: ModelConfig) -> None:
        directions = 2 if config.bidirectional else 1
        encoder_width = directions * config.hidden
        self.bar1_embedding = nn.Embedding(N_CATEGORIES, config.embed_dim)
        # One extra token: the "start" input of the decoder's first step.
        self.start_token = N_CATEGORIES
        self.prev_embedding = nn.Embedding(N_CATEGORIES + 1, config.embed_dim)
        self.encoder = nn.LSTM(config.embed_dim, config.hidden, batch_first=True, bidirectional=config.bidirectional)
        # The encoder's final (h, c) of all directions → the decoder's initial state.
        self.bridge_h = nn.Linear(encoder_width, config.hidden)
        self.bridge_c = nn.Linear(encoder_width, config.hidden)
        self.condition_embeddings = nn.ModuleList(
            nn.Embedding(CONDITION_SIZES[name], config.embed_dim) for name in config.conditions
        )
        condition_width = config.embed_dim if config.conditions else 0
        decoder_input = (
            condition_width + config.embed_dim + (config.embed_dim + encoder_width if config.feed_bar1 else 0)
        )
        self.decoder = nn.LSTM(decoder_input, config.hidden, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, N_CATEGORIES)
        self.copy_gate = nn.Linear(config.hidden, 1) if config.copy_gate else None

    def _build_orig(self, config: ModelConfig) -> None:
        first, second = config.orig_encoder
        self.encoder1 = nn.LSTM(N_CATEGORIES, first, batch_first=True)
        self.encoder2 = nn.LSTM(first, second, batch_first=True)
        self.dropout = nn.Dropout(config.orig_dropout)
        self.decoder = nn.LSTM(second, config.orig_decoder, batch_first=True)
        self.head = nn.Linear(config.orig_decoder, N_CATEGORIES)

    @property
    def autoregressive(self) -> bool:
        """True when a step's distribution depends on the bar-2 steps before it."""
        return self.config.arch == "lstm"

    # --- the lstm architecture -------------------------------------------------------------------------------
    def _encode(self, bar1: torch.Tensor, conditions: torch.Tensor | None = None) -> Encoding:
        """bar1 (B, 16) and its conditions (B, n) → per-step context for the decoder (B, 16, C) and its initial
        state, each (1, B, H). The conditions ride in the context, so a reused encoding carries them too."""
        embedded = self.dropout(self.bar1_embedding(bar1))  # (B, 16, E)
        outputs, (h, c) = self.encoder(embedded)  # outputs (B, 16, dirs*H); h, c (dirs, B, H)
        batch = bar1.shape[0]
        h = torch.tanh(self.bridge_h(h.transpose(0, 1).reshape(batch, -1))).unsqueeze(0)
        c = self.bridge_c(c.transpose(0, 1).reshape(batch, -1)).unsqueeze(0)
        pieces = [embedded, outputs] if self.config.feed_bar1 else []
        if self.config.conditions:
            codes = self._conditions(conditions, batch)
            summed = sum(table(codes[:, i]) for i, table in enumerate(self.condition_embeddings))
            pieces.append(summed.unsqueeze(1).expand(-1, bar1.shape[1], -1))
        context = torch.cat(pieces, dim=-1) if pieces else embedded[:, :, :0]
        return context, (h, c)

    def _conditions(self, conditions: torch.Tensor | np.ndarray | None, batch: int) -> torch.Tensor:
        """(B, n) condition codes, checked; ``None`` = the plain case (``jaki.conditions.codes_for``'s defaults)."""
        n = len(self.config.conditions)
        if conditions is None:
            plain = torch.as_tensor(codes_for(self.config.conditions), device=self.logit_offset.device)
            return plain.expand(batch, -1)
        codes = torch.as_tensor(conditions, dtype=torch.long, device=self.logit_offset.device)
        if codes.ndim == 1:
            codes = codes.unsqueeze(0)
        if codes.shape[1] != n or codes.shape[0] not in (1, batch):
            raise ValueError(
                f"expected ({batch}, {n}) condition codes {self.config.conditions}, got {tuple(codes.shape)}"
            )
        sizes = torch.tensor([CONDITION_SIZES[name] for name in self.config.conditions], device=codes.device)
        if codes.numel() and bool(((codes < 0) | (codes >= sizes)).any()):
            raise ValueError(f"condition codes out of range for {self.config.conditions}")
        return codes.expand(batch, -1)

    def _decode(
        self,
        previous: torch.Tensor,
        bar1: torch.Tensor,
        context: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """previous (B, T) categories (or start), bar 1 at the same steps (B, T), context (B, T, C) →
        logits (B, T, 32) and the new state."""
        inputs = torch.cat([self.dropout(self.prev_embedding(previous)), context], dim=-1)
        outputs, state = self.decoder(inputs, state)  # (B, T, H)
        return self._logits(self.dropout(outputs), bar1), state

    def _logits(self, outputs: torch.Tensor, bar1: torch.Tensor) -> torch.Tensor:
        """The decoder's outputs (..., H) and bar 1 at the same steps (...) → logits (..., 32)."""
        logits = self.head(outputs) + self.logit_offset
        if self.copy_gate is not None:
            # "Play it again" is the commonest continuation: let the state decide how much to favour it.
            logits = logits + self.copy_gate(outputs) * F.one_hot(bar1, N_CATEGORIES)
        return logits

    # --- the orig architecture -------------------------------------------------------------------------------
    def _orig_logits(self, bar1: torch.Tensor) -> torch.Tensor:
        x, _ = self.encoder1(F.one_hot(bar1, N_CATEGORIES).float())  # (B, 16, 250)
        _, (h, _) = self.encoder2(self.dropout(x))  # h (1, B, 100): last state only
        repeated = h[-1].unsqueeze(1).expand(-1, bar1.shape[1], -1)  # (B, 16, 100)
        x, _ = self.decoder(repeated)  # (B, 16, 16)
        return self.head(x) + self.logit_offset

    # --- after training --------------------------------------------------------------------------------------
    def set_logit_adjustment(self, category_frequencies: np.ndarray, strength: float) -> None:
        """Offset every logit by -strength·log(frequency of its category); 0 removes the offset (module docstring)."""
        frequencies = torch.as_tensor(category_frequencies, dtype=torch.float32)
        if frequencies.shape != (N_CATEGORIES,) or not bool((frequencies > 0).all()):
            raise ValueError(f"expected {N_CATEGORIES} positive category frequencies, got {tuple(frequencies.shape)}")
        if strength < 0:
            raise ValueError(f"logit adjustment strength must be >= 0, got {strength}")
        self.logit_offset.copy_(-strength * torch.log(frequencies / frequencies.sum()))

    # --- the shared doors ------------------------------------------------------------------------------------
    def forward(self, bar1: torch.Tensor, bar2: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, 16, 32): step t's distribution given bar 1, the conditions and bar 2's steps
        before t."""
        if not self.autoregressive:
            return self._orig_logits(bar1)
        return self._teacher_forced(bar1, bar2, *self._encode(bar1, conditions))

    def _teacher_forced(
        self, bar1: torch.Tensor, bar2: torch.Tensor, context: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        start = torch.full_like(bar2[:, :1], self.start_token)
        previous = torch.cat([start, bar2[:, :-1]], dim=1)  # (B, 16): the input at step t is bar 2's step t-1
        logits, _ = self._decode(previous, bar1, context, state)
        return logits

    @torch.no_grad()
    def log_likelihood(
        self,
        bar1: torch.Tensor | np.ndarray,
        bar2: torch.Tensor | np.ndarray,
        conditions: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """log p(bar2 | bar1) in nats, (B,): the exact sum of the teacher-forced per-step log-probabilities.

        One batched call scores many candidates at once; a (1, 16) bar 1 is encoded once and broadcast to every
        bar 2, which is how the tuner scores the variants of one continuation. Cost of the shipped model on one
        busy CPU thread (benchmarks/continuation.py): about 0.9 ms for 1 candidate, 2.5 ms for 16, 7 ms for 64,
        25 ms for 256 — batch the candidates rather than calling once per candidate.
        """
        bar2 = _as_categories(bar2)
        log_probs = self.step_log_probs(bar1, bar2, conditions=conditions)
        return log_probs.gather(-1, bar2.unsqueeze(-1)).squeeze(-1).sum(dim=1)

    @torch.no_grad()
    def encode(self, bar1: torch.Tensor | np.ndarray, conditions: torch.Tensor | np.ndarray | None = None) -> Encoding:
        """What the lstm decoder needs of bar 1 and the conditions (per-step context, initial state), to reuse."""
        if not self.autoregressive:
            raise ValueError("only the lstm architecture has an encoding to reuse")
        bar1 = _as_categories(bar1)
        return self._encode(bar1, conditions)

    @torch.no_grad()
    def step_log_probs(
        self,
        bar1: torch.Tensor | np.ndarray,
        bar2: torch.Tensor | np.ndarray,
        encoding: Encoding | None = None,
        conditions: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """Teacher-forced log-probabilities of every category at every step, (B, 16, 32).

        A (1, 16) bar 1 is encoded once and shared by every bar 2; ``encoding`` (from :meth:`encode` of that bar 1)
        skips even that, for a caller that scores many batches after one seed.
        """
        bar1, bar2 = _as_categories(bar1), _as_categories(bar2)
        batch = bar2.shape[0]
        if bar1.shape[0] not in (1, batch):
            raise ValueError(f"bar1 holds {bar1.shape[0]} bars for {batch} bar 2s (expected 1 or {batch})")
        if not self.autoregressive:
            logits = self._orig_logits(bar1).expand(batch, -1, -1)
        else:
            if encoding is None:
                encoding = self._encode(bar1, conditions)
            context, (h, c) = encoding
            context = context.expand(batch, -1, -1)
            state = (h.expand(-1, batch, -1).contiguous(), c.expand(-1, batch, -1).contiguous())
            logits = self._teacher_forced(bar1.expand(batch, -1), bar2, context, state)
        return F.log_softmax(logits, dim=-1)

    # --- scoring variants of bar 2s (the tuner's many candidates) ----------------------------------------------
    @torch.no_grad()
    def trace(self, bar1: torch.Tensor, encoding: Encoding, seed: torch.Tensor, bars: torch.Tensor) -> DecoderTrace:
        """Run the lstm decoder over ``bars`` (B, 16), each after bar 1 ``bar1[seed]`` (``encoding`` of ``bar1``),
        step by step, keeping what :meth:`variant_log_likelihood` starts from. Inference only (eval mode)."""
        if not self.autoregressive or self.training:
            raise ValueError("a decoder trace needs the lstm architecture in eval mode")
        context, (h, c) = encoding
        embed = self.config.embed_dim
        decoder = self.decoder
        # The decoder's input is [previous category's embedding, context]: their shares of the input gates are
        # computed once (per category, per seed bar and step) instead of once per bar and step.
        context_gates = context @ decoder.weight_ih_l0[:, embed:].T + decoder.bias_ih_l0 + decoder.bias_hh_l0
        previous_gates = self.prev_embedding.weight @ decoder.weight_ih_l0[:, :embed].T  # (33, 4H)
        previous = torch.cat([torch.full_like(bars[:, :1], self.start_token), bars[:, :-1]], dim=1)
        input_gates = context_gates[seed] + previous_gates[previous]  # (B, 16, 4H)
        h, c = h[0, seed], c[0, seed]
        states, outputs = [], []
        for t in range(STEPS_PER_BAR):
            states.append((h, c))
            h, c = _lstm_cell(input_gates[:, t], h, c, decoder.weight_hh_l0)
            outputs.append(h)
        logits = self._logits(torch.stack(outputs, dim=1), bar1[seed])
        return DecoderTrace(
            bar1=bar1,
            seed=seed,
            bars=bars,
            context_gates=context_gates,
            previous_gates=previous_gates,
            h=torch.stack([state[0] for state in states], dim=1),
            c=torch.stack([state[1] for state in states], dim=1),
            log_probs=F.log_softmax(logits, dim=-1),
        )

    @torch.no_grad()
    def variant_log_likelihood(self, trace: DecoderTrace, base: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
        """log p of each variant (N, 16) of bar 2 ``trace.bars[base]`` after its seed bar, (N,) nats: the steps up
        to the first changed one are read from the trace, and the decoder runs on from there (a variant that
        changes step t costs 15 − t decoder steps instead of 16)."""
        changed = variants != trace.bars[base]
        first = torch.where(changed.any(dim=1), changed.int().argmax(dim=1), STEPS_PER_BAR)  # (N,)
        steps = torch.arange(STEPS_PER_BAR, device=first.device)
        read = trace.log_probs[base[:, None], steps, variants]  # (N, 16) under the base's steps
        total = (read * (steps <= first[:, None])).sum(dim=1)
        # Rows sorted by their first changed step: the rows decoded at step t are a prefix that grows with t. Each
        # row starts from its base's state after its first changed step.
        order = torch.argsort(first, stable=True)
        first, base, variants = first[order], base[order], variants[order]
        seed = trace.seed[base]
        starts = torch.searchsorted(first, steps[1:]).tolist()  # rows with first < t
        joins = (first + 1).clamp(max=STEPS_PER_BAR - 1)
        h, c = trace.h[base, joins], trace.c[base, joins]
        # Row-wise gathers (index_select) of the flattened per-(seed, step) gates: twice as fast as indexing.
        context_gates = trace.context_gates.reshape(-1, trace.context_gates.shape[-1])
        outputs, decoded = [], []
        for t, n in enumerate(starts, start=1):
            if n:
                gates = context_gates.index_select(0, seed[:n] * STEPS_PER_BAR + t)
                gates += trace.previous_gates.index_select(0, variants[:n, t - 1])
                output, c[:n] = _lstm_cell(gates, h[:n], c[:n], self.decoder.weight_hh_l0)
                h[:n] = output
                outputs.append(output)
                decoded.append(torch.arange(n, device=h.device) * STEPS_PER_BAR + t)
        after = h.new_zeros(len(variants) * STEPS_PER_BAR)  # log p of each decoded step, (N × 16), 0 elsewhere
        if outputs:
            # Only the decoded steps are scored, in one call (flat index: row × 16 + step).
            at = torch.cat(decoded)
            logits = self._logits(torch.cat(outputs), trace.bar1[seed].reshape(-1)[at])
            after[at] = F.log_softmax(logits, dim=-1).gather(-1, variants.reshape(-1)[at, None])[:, 0]
        return total.index_add(0, order, after.reshape(-1, STEPS_PER_BAR).sum(dim=1))

    @torch.no_grad()
    def play(
        self,
        bar1: torch.Tensor | np.ndarray,
        decoding: Decoding,
        *,
        generator: torch.Generator | None = None,
        conditions: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """A bar 2 (B, 16) for each bar 1, the way ``decoding`` says (its ``keep_share`` rule included)."""
        if decoding.greedy:
            return self.generate(bar1, greedy=True, conditions=conditions)
        bar1 = _as_categories(bar1)
        draws = decoding.draws if decoding.keep_share > 0 else 1
        codes = self._conditions(conditions, bar1.shape[0]) if self.config.conditions else None
        sampled = self.generate(
            bar1.repeat_interleave(draws, dim=0),
            temperature=decoding.temperature,
            top_p=decoding.top_p,
            generator=generator,
            conditions=None if codes is None else codes.repeat_interleave(draws, dim=0),
        ).reshape(bar1.shape[0], draws, bar1.shape[1])
        if draws == 1:
            return sampled[:, 0]
        parts = _CATEGORY_PARTS[:, [PARTS.index(part) for part in KEPT_PARTS]]
        before = parts[bar1].sum(dim=1, keepdim=True).float()  # (B, 1, kept parts) hits per part
        after = parts[sampled].sum(dim=2).float()  # (B, draws, kept parts)
        kept = torch.where(before > 0, after / before.clamp(min=1), torch.ones_like(after)).min(dim=-1).values
        keeps = kept >= decoding.keep_share
        # The first draw that keeps every part, else the one whose worst part keeps the most.
        choice = torch.where(keeps.any(dim=1), keeps.float().argmax(dim=1), kept.argmax(dim=1))
        return sampled[torch.arange(bar1.shape[0]), choice]

    @torch.no_grad()
    def generate(
        self,
        bar1: torch.Tensor | np.ndarray,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        conditions: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """A bar 2 (B, 16) for each bar 1: argmax step by step (``greedy``) or sampled at ``temperature`` from the
        smallest set of categories holding ``top_p`` of the probability (nucleus sampling: the long tail of
        one-in-a-hundred hits is what makes a sampled bar sound random)."""
        if not greedy and temperature <= 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
        bar1 = _as_categories(bar1)
        if not self.autoregressive:
            return self._pick(self._orig_logits(bar1), temperature, top_p, greedy, generator)
        context, state = self._encode(bar1, conditions)
        previous = torch.full_like(bar1[:, :1], self.start_token)  # (B, 1)
        steps = []
        for t in range(bar1.shape[1]):
            logits, state = self._decode(previous, bar1[:, t : t + 1], context[:, t : t + 1], state)  # (B, 1, 32)
            previous = self._pick(logits, temperature, top_p, greedy, generator)
            steps.append(previous)
        return torch.cat(steps, dim=1)

    @staticmethod
    def _pick(
        logits: torch.Tensor, temperature: float, top_p: float, greedy: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """(B, T, 32) logits → (B, T) categories."""
        if greedy:
            return logits.argmax(dim=-1)
        probs = F.softmax(logits / temperature, dim=-1)
        if top_p < 1.0:
            # Keep each category whose more-likely predecessors hold less than top_p (the top one always).
            ranked, order = probs.sort(dim=-1, descending=True)
            outside = ranked.cumsum(dim=-1) - ranked >= top_p
            probs = probs.scatter(-1, order, ranked.masked_fill(outside, 0.0))
        flat = torch.multinomial(probs.reshape(-1, N_CATEGORIES), 1, generator=generator)
        return flat.reshape(logits.shape[:-1])


@dataclass(frozen=True)
class DecoderTrace:
    """The lstm decoder run over B bar 2s (:meth:`ContinuationModel.trace`): where scoring their variants starts."""

    bar1: torch.Tensor  # (S, 16) the seed bars
    seed: torch.Tensor  # (B,) the seed bar each bar 2 follows
    bars: torch.Tensor  # (B, 16)
    context_gates: torch.Tensor  # (S, 16, 4H) the context's share of the decoder's input gates, biases included
    previous_gates: torch.Tensor  # (33, 4H) the previous category's share
    h: torch.Tensor  # (B, 16, H) the decoder's state before each step
    c: torch.Tensor  # (B, 16, H)
    log_probs: torch.Tensor  # (B, 16, 32) teacher-forced


def _lstm_cell(
    input_gates: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_hh: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of torch's LSTM (gates i, f, g, o) given the input's share of the gates, biases included."""
    gates = torch.addmm(input_gates, h, weight_hh.T)
    i, f, _, o = torch.sigmoid(gates).chunk(4, dim=-1)  # one call for the three sigmoid gates (and a spare)
    g = torch.tanh(gates[:, 2 * h.shape[1] : 3 * h.shape[1]])
    c = torch.addcmul(f * c, i, g)
    return o * torch.tanh(c), c


_CATEGORY_PARTS = torch.tensor(CATEGORY_PARTS)  # (32, 5): which parts each category sounds


def _as_categories(values: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(B, 16) category indices as a long tensor, checked, so that a bad shape fails here and not deep in an LSTM."""
    tensor = torch.as_tensor(values, dtype=torch.long)
    if tensor.ndim != 2 or tensor.shape[1] != STEPS_PER_BAR:
        raise ValueError(f"expected (batch, {STEPS_PER_BAR}) categories, got shape {tuple(tensor.shape)}")
    if tensor.numel() and (tensor.min() < 0 or tensor.max() >= N_CATEGORIES):
        raise ValueError(f"categories must lie in 0..{N_CATEGORIES - 1}")
    return tensor


def count_parameters(model: nn.Module) -> int:
    """Number of trainable values, for reports."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
