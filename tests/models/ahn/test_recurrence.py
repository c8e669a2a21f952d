"""AHN recurrences: the chunked form is the recurrence, fold + read is decoding, and the gates are what they claim."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ttclab.errors import UserError
from ttclab.models.ahn.recurrence import (
    RECURRENCES,
    DeltaNet,
    GatedDeltaNet,
    Mamba2,
    Recurrence,
    make_recurrence,
)

KINDS = list(RECURRENCES)
B, H, D, HIDDEN = 2, 3, 8, 24


@pytest.fixture(autouse=True)
def _small():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def inputs(recurrence: Recurrence, length: int, batch: int = B):
    q, k, v = (torch.randn(batch, recurrence.num_heads, length, D) for _ in range(3))
    return q, k, v, recurrence.gates(torch.randn(batch, length, HIDDEN))


def close(actual: torch.Tensor, expected: torch.Tensor, tol: float = 1e-4) -> None:
    torch.testing.assert_close(actual, expected, atol=tol * max(1.0, expected.abs().max().item()), rtol=tol)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk", [1, 16, 64])
@pytest.mark.parametrize("initial", [False, True])
def test_chunked_equals_recurrent(kind, chunk, initial):
    recurrence = make_recurrence(kind, HIDDEN, H, D)
    q, k, v, gates = inputs(recurrence, 101)
    state = torch.randn(B, H, D, D) if initial else None
    expected, expected_state = recurrence.recurrent(q, k, v, gates, state)
    output, final = recurrence(q, k, v, gates, state, chunk_size=chunk)
    assert output.shape == (B, H, 101, D) and final.shape == (B, H, D, D)
    assert output.dtype == final.dtype == torch.float32
    close(output, expected)
    close(final, expected_state)


@pytest.mark.parametrize("kind", KINDS)
def test_hard_gates_still_match(kind):
    """Near-saturated writes, strong decays and correlated keys: the triangular solve and the decay masks hold."""
    recurrence = make_recurrence(kind, HIDDEN, H, D)
    q, k, v, _ = inputs(recurrence, 90)
    k = 0.2 * k + torch.randn(1, 1, 1, D)
    strength = 0.95 + 0.05 * torch.rand(B, H, 90)
    log_decay = -30 * torch.rand(B, H, 90)
    gates = {
        "deltanet": strength[..., None],
        "gdn": torch.stack([strength, log_decay], -1),
        "mamba2": torch.stack([log_decay, 3 * strength], -1),
    }[kind]
    expected, expected_state = recurrence.recurrent(q, k, v, gates)
    output, final = recurrence(q, k, v, gates, chunk_size=32)
    close(output, expected)
    close(final, expected_state)


@pytest.mark.parametrize("kind", KINDS)
def test_fold_then_read_is_decoding(kind):
    recurrence = make_recurrence(kind, HIDDEN, H, D)
    q, k, v, gates = inputs(recurrence, 45)
    state = torch.randn(B, H, D, D)
    expected, expected_state = recurrence.recurrent(q, k, v, gates, state)
    folded = recurrence.fold(k, v, gates, state, chunk_size=16)
    close(folded, expected_state)
    close(recurrence.read(q[:, :, -1:], folded), expected[:, :, -1:])
    first = recurrence.fold(k[:, :, :20], v[:, :, :20], gates[:, :, :20], state, chunk_size=16)
    in_pieces = recurrence.fold(k[:, :, 20:], v[:, :, 20:], gates[:, :, 20:], first, chunk_size=16)
    close(in_pieces, folded)
    one_by_one = state
    for t in range(45):
        one_by_one = recurrence.fold(k[:, :, t : t + 1], v[:, :, t : t + 1], gates[:, :, t : t + 1], one_by_one)
    close(one_by_one, folded)


@pytest.mark.parametrize("kind", KINDS)
def test_empty_sequence_keeps_state(kind):
    recurrence = make_recurrence(kind, HIDDEN, H, D)
    q, k, v, gates = inputs(recurrence, 0)
    assert gates.shape == (B, H, 0, recurrence.gate_count)
    state = torch.randn(B, H, D, D)
    for output, final in (recurrence(q, k, v, gates, state), recurrence.recurrent(q, k, v, gates, state)):
        assert output.shape == (B, H, 0, D)
        assert torch.equal(final, state)
    assert torch.equal(recurrence.fold(k, v, gates, state), state)
    assert torch.equal(recurrence(q, k, v, gates)[1], recurrence.new_state(B, "cpu"))


def test_gate_layout_and_ranges():
    hidden = 50 * torch.randn(B, 7, HIDDEN)  # a large residual stream must not saturate the gates at init
    beta = DeltaNet(HIDDEN, H, D).gates(hidden)
    assert beta.shape == (B, H, 7, 1) and ((beta > 0.01) & (beta < 0.99)).all()
    gdn = GatedDeltaNet(HIDDEN, H, D).gates(hidden)
    assert gdn.shape == (B, H, 7, 2) and ((gdn[..., 0] > 0) & (gdn[..., 0] < 1)).all() and (gdn[..., 1] < 0).all()
    mamba = Mamba2(HIDDEN, H, D)
    gates = mamba.gates(hidden.bfloat16())
    assert gates.shape == (B, H, 7, 2) and gates.dtype == torch.float32
    assert (gates[..., 1] > 0).all()
    close(gates[..., 0], -mamba.A_log.exp()[:, None] * gates[..., 1])


def test_initial_decay_parameters_are_standard():
    model = Mamba2(HIDDEN, 64, D)
    A = model.A_log.exp()
    dt = F.softplus(model.dt_bias)
    assert ((A >= 1) & (A <= 16)).all()
    assert ((dt >= 1e-3 * 0.999) & (dt <= 1e-1 * 1.001)).all()


def test_deltanet_with_full_write_stores_the_value():
    model = DeltaNet(HIDDEN, 1, 4)
    keys = torch.eye(4)[None, None, :2] * 3.0  # orthogonal, and not unit: the recurrence normalises them
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]])[None, None]
    ones = torch.ones(1, 1, 2, 1)
    state = model.fold(keys, values, ones, model.new_state(1, "cpu"))
    close(model.read(keys, state), values, 1e-6)
    overwritten = model.fold(keys[:, :, :1], values[:, :, 1:], ones[:, :, :1], state)  # same key, new value
    close(model.read(keys, overwritten), values[:, :, [1, 1]], 1e-6)
    half = model.fold(keys[:, :, :1], values[:, :, 1:], 0.5 * ones[:, :, :1], state)  # b = 1/2: half way there
    close(model.read(keys[:, :, :1], half), 0.5 * (values[:, :, :1] + values[:, :, 1:]), 1e-6)


def test_mamba2_step_decays_and_writes():
    model = Mamba2(HIDDEN, 1, 4)
    with torch.no_grad():
        model.proj.weight.zero_()
        model.A_log.fill_(math.log(2.0))
        model.dt_bias.fill_(math.log(math.expm1(0.5)))  # softplus(bias) = 0.5
    gates = model.gates(torch.randn(1, 1, HIDDEN))
    close(gates, torch.tensor([-1.0, 0.5]).view(1, 1, 1, 2), 1e-6)
    state = torch.randn(1, 1, 4, 4)
    k, v = torch.tensor([0.0, 2.0, 0.0, 0.0]).view(1, 1, 1, 4), torch.randn(1, 1, 1, 4)
    expected = math.exp(-1.0) * state + 0.5 * torch.tensor([0.0, 1.0, 0.0, 0.0])[:, None] * v[0, 0]
    close(model.fold(k, v, gates, state), expected, 1e-6)
    close(model(k, k, v, gates, state)[0], expected[..., 1, :][:, :, None], 1e-6)


def test_gdn_without_decay_is_deltanet():
    gdn, delta = GatedDeltaNet(HIDDEN, H, D), DeltaNet(HIDDEN, H, D)
    q, k, v, gates = inputs(delta, 70)
    no_decay = torch.cat([gates, torch.zeros_like(gates)], dim=-1)
    for a, b in zip(gdn(q, k, v, no_decay, chunk_size=16), delta(q, k, v, gates, chunk_size=16), strict=True):
        close(a, b, 1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_the_gates(kind):
    recurrence = make_recurrence(kind, HIDDEN, H, D)
    q, k, v, _ = inputs(recurrence, 80)
    hidden = torch.randn(B, 80, HIDDEN)
    output, state = recurrence(q, k, v, recurrence.gates(hidden), torch.randn(B, H, D, D), chunk_size=32)
    (output.square().mean() + state.square().mean()).backward()
    for name, parameter in recurrence.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", KINDS)
def test_long_sequence_stays_finite(kind):
    recurrence = make_recurrence(kind, HIDDEN, 2, D)
    q, k, v, gates = inputs(recurrence, 4096, batch=1)
    output, state = recurrence(q, k, v, gates)
    output.square().mean().backward()
    assert torch.isfinite(output).all() and torch.isfinite(state).all() and output.abs().max() < 1e3
    assert all(torch.isfinite(parameter.grad).all() for parameter in recurrence.parameters())
    expected, expected_state = recurrence.recurrent(q, k, v, gates.detach())
    close(output.detach(), expected)
    close(state.detach(), expected_state)


def test_unknown_kind_names_the_choices():
    with pytest.raises(UserError, match="deltanet.*gdn.*mamba2"):
        make_recurrence("nope", HIDDEN, H, D)
