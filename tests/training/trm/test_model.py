"""TRM's wiring: shapes, where gradients flow (and where they must not), detached carries, baselines."""

from __future__ import annotations

import pytest
import torch

from ttclab.errors import UserError
from ttclab.training.trm.model import (
    TRM,
    PlainTransformer,
    TRMConfig,
    matched_baseline,
    parameter_count,
    plain_parameters,
    stablemax_cross_entropy,
)


def config(**overrides) -> TRMConfig:
    settings = dict(vocab=6, length=16, dim=32, heads=4, n=3, T=3, n_sup=4, prefix=2, puzzle_ids=3)
    return TRMConfig(**{**settings, **overrides})


def batch(cfg: TRMConfig, size: int = 5):
    torch.manual_seed(0)
    return torch.randint(1, cfg.vocab, (size, cfg.length)), torch.randint(0, cfg.puzzle_ids, (size,))


@pytest.mark.parametrize("mixer", ["attention", "mlp"])
def test_a_step_returns_detached_state_logits_and_one_halting_logit(mixer):
    cfg = config(mixer=mixer)
    model = TRM(cfg)
    inputs, ids = batch(cfg)
    y, z = model.initial_state(5)
    (y, z), logits, halt = model(inputs, ids, y, z)
    assert y.shape == z.shape == (5, cfg.prefix + cfg.length, cfg.dim)
    assert logits.shape == (5, cfg.length, cfg.vocab) and halt.shape == (5,)
    assert not y.requires_grad and not z.requires_grad  # carried to the next step as plain inputs
    assert logits.requires_grad and halt.requires_grad
    assert torch.allclose(halt, torch.full((5,), -5.0))  # halting head starts at weight 0, bias -5


class CallLog:
    """Records, for every call of the shared network, whether autograd was recording."""

    def __init__(self, model: TRM) -> None:
        self.grad: list[bool] = []
        model.net.register_forward_hook(lambda module, args, output: self.grad.append(output.requires_grad))


def test_only_the_last_recursion_carries_gradients():
    cfg = config()
    model = TRM(cfg)
    log = CallLog(model)
    inputs, ids = batch(cfg)
    model(inputs, ids, *model.initial_state(5))
    calls = cfg.n + 1
    assert len(log.grad) == cfg.T * calls
    assert log.grad == [False] * (cfg.T - 1) * calls + [True] * calls


def test_the_one_step_approximation_backpropagates_through_the_last_z_and_y_updates_only():
    cfg = config(gradient="last")
    model = TRM(cfg)
    log = CallLog(model)
    inputs, ids = batch(cfg)
    model(inputs, ids, *model.initial_state(5))
    assert log.grad == [False] * (cfg.T * (cfg.n + 1) - 2) + [True, True]


def test_gradients_reach_every_trained_weight_and_not_the_initial_states():
    cfg = config()
    model = TRM(cfg)
    inputs, ids = batch(cfg)
    (_, _), logits, halt = model(inputs, ids, *model.initial_state(5))
    (logits.sum() + halt.sum()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert not model.y_init.requires_grad and not model.z_init.requires_grad


def test_deep_supervision_steps_are_independent_graphs():
    cfg = config()
    model = TRM(cfg)
    inputs, ids = batch(cfg)
    (y, z), first, _ = model(inputs, ids, *model.initial_state(5))
    (y, z), second, _ = model(inputs, ids, y, z)
    second.sum().backward()  # must not reach back into step 1's graph
    first.sum().backward()  # step 1's graph is still intact: nothing was freed by step 2
    assert model.head.weight.grad is not None


def test_the_plain_baseline_matches_the_parameter_count_in_one_pass():
    cfg = config()
    baseline_cfg = matched_baseline(cfg, layers=4)
    trm, plain = parameter_count(TRM(cfg)), parameter_count(PlainTransformer(baseline_cfg))
    assert baseline_cfg.layers == 4 and abs(plain - trm) / trm < 0.03
    for mixer in ("attention", "mlp"):
        other = TRMConfig(**{**baseline_cfg.__dict__, "mixer": mixer, "expansion": 2.75})
        assert plain_parameters(other) == parameter_count(PlainTransformer(other))
    inputs, ids = batch(baseline_cfg)
    assert PlainTransformer(baseline_cfg)(inputs, ids).shape == (5, cfg.length, cfg.vocab)


def test_stablemax_cross_entropy_ignores_unlabelled_cells_and_rewards_the_right_answer():
    labels = torch.tensor([[1, 2, -100]])
    right = torch.tensor([[[0.0, 9, 0], [0, 0, 9], [9, 0, 0]]])
    wrong = torch.tensor([[[9.0, 0, 0], [9, 0, 0], [0, 0, 9]]])
    assert stablemax_cross_entropy(right, labels) < stablemax_cross_entropy(wrong, labels)
    ignored = right.clone()
    ignored[0, 2] = torch.tensor([0.0, 0, 9])
    assert torch.equal(stablemax_cross_entropy(right, labels), stablemax_cross_entropy(ignored, labels))


def test_bad_shapes_are_user_errors():
    with pytest.raises(UserError, match="heads"):
        config(dim=30)
    with pytest.raises(UserError, match="mixer"):
        config(mixer="conv")
