"""ContinuationModel: the teacher-forced logits, the exact log-likelihood and generation agree with each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jaki.model import ContinuationModel, ModelConfig, count_parameters
from jaki.pattern import N_CATEGORIES

torch.set_num_threads(1)

TINY = {"embed_dim": 8, "hidden": 16}


def tiny_model(arch: str = "lstm", **overrides) -> ContinuationModel:
    torch.manual_seed(0)
    return ContinuationModel(ModelConfig(arch=arch, **{**TINY, **overrides})).eval()


def bars(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, N_CATEGORIES, (n, 16), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "model",
    [tiny_model(), tiny_model(bidirectional=False), tiny_model(feed_bar1=False), tiny_model("orig")],
    ids=["lstm", "unidirectional", "no-bar1-feed", "orig"],
)
def test_log_likelihood_is_the_sum_of_teacher_forced_log_softmax(model: ContinuationModel) -> None:
    bar1, bar2 = bars(5, 1), bars(5, 2)
    logits = model(bar1, bar2)
    assert logits.shape == (5, 16, N_CATEGORIES)
    expected = F.log_softmax(logits, dim=-1).gather(-1, bar2.unsqueeze(-1)).squeeze(-1).sum(dim=1)
    torch.testing.assert_close(model.log_likelihood(bar1, bar2), expected)
    # Numpy input and a single bar 1 broadcast over several candidates give the same numbers.
    torch.testing.assert_close(model.log_likelihood(bar1.numpy(), bar2.numpy()), expected)
    broadcast = model.log_likelihood(bar1[:1], bar2)
    torch.testing.assert_close(broadcast, model.log_likelihood(bar1[:1].expand(5, -1), bar2))


def test_lstm_step_distribution_depends_on_earlier_bar2_steps_only() -> None:
    model = tiny_model()
    bar1, bar2 = bars(1, 3), bars(1, 4)
    changed = bar2.clone()
    changed[0, 10] = (changed[0, 10] + 1) % N_CATEGORIES
    before, after = model(bar1, bar2), model(bar1, changed)
    torch.testing.assert_close(before[:, :11], after[:, :11])  # steps ≤ 10 do not see bar 2's step 10
    assert not torch.allclose(before[:, 11:], after[:, 11:])


@pytest.mark.parametrize(
    "model",
    [tiny_model(), tiny_model(bidirectional=False, copy_gate=False), tiny_model(conditions=("programmed", "fill"))],
    ids=["lstm", "unidirectional-no-copy-gate", "conditioned"],
)
def test_variants_scored_from_a_decoder_trace_equal_the_full_forward_pass(model: ContinuationModel) -> None:
    seeds = bars(3, 10)
    seed = torch.tensor([0, 2, 2, 1])
    base_bars = bars(4, 11)
    trace = model.trace(seeds, model.encode(seeds), seed, base_bars)
    torch.testing.assert_close(trace.log_probs, model.step_log_probs(seeds[seed], base_bars), atol=1e-5, rtol=0)
    # Variants of each base bar: unchanged, one step changed (first and last included), two steps changed.
    rng = np.random.default_rng(0)
    base = torch.as_tensor(rng.integers(0, 4, 64))
    variants = base_bars[base].clone()
    rows = torch.arange(64)
    variants[rows[8:], torch.as_tensor(rng.integers(0, 16, 56))] = torch.as_tensor(rng.integers(0, 32, 56))
    variants[rows[40:], torch.as_tensor(rng.integers(0, 16, 24))] = torch.as_tensor(rng.integers(0, 32, 24))
    variants[8, 0], variants[9, 15] = (variants[8, 0] + 1) % 32, (variants[9, 15] + 1) % 32
    expected = model.log_likelihood(seeds[seed[base]], variants)
    torch.testing.assert_close(model.variant_log_likelihood(trace, base, variants), expected, atol=1e-5, rtol=0)


def test_a_decoder_trace_needs_the_lstm_in_eval_mode() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        tiny_model().train().trace(
            bars(1, 0), tiny_model().encode(bars(1, 0)), torch.zeros(1, dtype=torch.long), bars(1, 1)
        )


def test_orig_ignores_bar2() -> None:
    model = tiny_model("orig")
    bar1 = bars(2, 5)
    torch.testing.assert_close(model(bar1, bars(2, 6)), model(bar1, bars(2, 7)))
    assert count_parameters(ContinuationModel(ModelConfig(arch="orig"))) == 432_896


@pytest.mark.parametrize("arch", ["lstm", "orig"])
def test_greedy_generation_is_the_argmax_of_its_own_teacher_forced_logits(arch: str) -> None:
    model = tiny_model(arch)
    bar1 = bars(4, 8)
    greedy = model.generate(bar1, greedy=True)
    assert greedy.shape == (4, 16) and greedy.dtype == torch.long
    torch.testing.assert_close(model.generate(bar1, greedy=True), greedy)
    torch.testing.assert_close(model(bar1, greedy).argmax(dim=-1), greedy)


@pytest.mark.parametrize("arch", ["lstm", "orig"])
def test_sampling_is_reproducible_with_a_seeded_generator(arch: str) -> None:
    model = tiny_model(arch)
    bar1 = bars(8, 9)

    def sample(seed: int, temperature: float = 1.0) -> torch.Tensor:
        return model.generate(bar1, temperature=temperature, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(sample(0), sample(0))
    assert not torch.equal(sample(0), sample(1))
    # A very low temperature samples the greedy bar.
    torch.testing.assert_close(sample(2, temperature=1e-8), model.generate(bar1, greedy=True))


@pytest.mark.parametrize("arch", ["lstm", "orig"])
def test_logit_adjustment_shifts_every_logit_by_minus_tau_log_frequency(arch: str) -> None:
    model = tiny_model(arch)
    bar1, bar2 = bars(3, 10), bars(3, 11)
    plain = model(bar1, bar2)
    frequencies = np.linspace(1.0, 32.0, N_CATEGORIES)  # category 0 rarest, 31 commonest
    model.set_logit_adjustment(frequencies, 0.5)
    offset = -0.5 * torch.log(torch.as_tensor(frequencies / frequencies.sum(), dtype=torch.float32))
    torch.testing.assert_close(model(bar1, bar2), plain + offset)
    # Likelihood and the argmax both see the adjusted distribution.
    expected = F.log_softmax(plain + offset, dim=-1).gather(-1, bar2.unsqueeze(-1)).squeeze(-1).sum(dim=1)
    torch.testing.assert_close(model.log_likelihood(bar1, bar2), expected)
    greedy = model.generate(bar1, greedy=True)
    torch.testing.assert_close(model(bar1, greedy).argmax(dim=-1), greedy)
    # A strong adjustment makes the rarest category the argmax everywhere; strength 0 undoes it.
    model.set_logit_adjustment(frequencies, 1e3)
    assert bool((model.generate(bar1, greedy=True) == 0).all())
    model.set_logit_adjustment(frequencies, 0.0)
    torch.testing.assert_close(model(bar1, bar2), plain)
    with pytest.raises(ValueError, match="positive"):
        model.set_logit_adjustment(np.zeros(N_CATEGORIES), 0.5)
    with pytest.raises(ValueError, match=">= 0"):
        model.set_logit_adjustment(frequencies, -1.0)


def test_bad_inputs_raise() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="categories"):
        model.log_likelihood(np.zeros((2, 15)), np.zeros((2, 15)))
    with pytest.raises(ValueError, match=r"0\.\.31"):
        model.generate(np.full((1, 16), 32))
    with pytest.raises(ValueError, match="expected 1 or 3"):
        model.log_likelihood(bars(2, 0), bars(3, 0))
    with pytest.raises(ValueError, match="arch"):
        ModelConfig(arch="transformer")
    with pytest.raises(ValueError, match="only the lstm"):
        tiny_model("orig").encode(bars(1, 0))


def test_conditions_change_the_distribution_and_none_is_the_plain_case() -> None:
    model = tiny_model(conditions=("programmed", "fill", "position"))
    bar1, bar2 = bars(3, 8), bars(3, 9)
    plain = model.log_likelihood(bar1, bar2)
    torch.testing.assert_close(plain, model.log_likelihood(bar1, bar2, conditions=np.array([[0, 0, 1]] * 3)))
    fill = model.log_likelihood(bar1, bar2, conditions=np.array([0, 1, 3]))  # one row of codes, broadcast
    assert not torch.allclose(plain, fill)
    encoding = model.encode(bar1[:1], np.array([[0, 1, 3]]))
    torch.testing.assert_close(
        model.step_log_probs(bar1[:1], bar2, encoding=encoding),
        model.step_log_probs(bar1[:1], bar2, conditions=[0, 1, 3]),
    )
    with pytest.raises(ValueError, match="out of range"):
        model.log_likelihood(bar1, bar2, conditions=np.array([[0, 2, 1]] * 3))
    with pytest.raises(ValueError, match="unknown condition"):
        ModelConfig(conditions=("tempo",))


def test_nucleus_sampling_keeps_only_the_likeliest_categories() -> None:
    model = tiny_model()
    bar1 = bars(64, 10)
    greedy = model.generate(bar1, greedy=True)
    # A nucleus smaller than any single category holds only the top one: sampling becomes the argmax.
    tiny_nucleus = model.generate(bar1, temperature=1.0, top_p=1e-6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(tiny_nucleus, greedy)
    wide = model.generate(bar1, temperature=1.0, top_p=1.0, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(wide, greedy)


def test_play_with_a_keep_share_redraws_bars_that_strip_the_backbone() -> None:
    from jaki.decoding import Decoding
    from jaki.pattern import CATEGORY_PARTS, category_index

    model = tiny_model()
    bar1 = torch.full((32, 16), category_index("ksc"))  # every backbone part on every step
    free = model.play(bar1, Decoding(temperature=1.0), generator=torch.Generator().manual_seed(0))
    kept = model.play(
        bar1, Decoding(temperature=1.0, keep_share=0.5, draws=64), generator=torch.Generator().manual_seed(0)
    )
    hits = lambda bars: CATEGORY_PARTS[bars.numpy()][..., :3].sum(axis=1)  # noqa: E731 (per bar, per backbone part)
    assert (hits(free) < 8).any()  # an untrained model strips them freely
    assert (hits(kept) >= 8).all()  # the rule holds every bar to half of each part's 16 hits
    again = model.play(
        bar1, Decoding(temperature=1.0, keep_share=0.5, draws=64), generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(kept, again)
    with pytest.raises(ValueError, match="keep_share"):
        Decoding(keep_share=1.5)
