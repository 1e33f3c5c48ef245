import pytest
import torch

import mlrobust.graphs
from mlrobust.attacks import GMLA, AttackGoal, GMLAConfig, gmla_direction
from mlrobust.errors import InputError
from mlrobust.threats import LinfBall
from tests.attacks.helpers import linear_model, tiny_cnn


def test_projected_direction_is_orthogonal_to_g2_in_l2():
    g1 = torch.tensor([[1.0, 0.0, 0.0]])
    g2 = torch.tensor([[-1.0, 0.1, 0.0]])  # cos ~ -0.995 <= tau
    d = gmla_direction(g1, g2, tau=-0.85, l2=True)
    assert abs(float((d * g2).sum())) < 1e-5
    assert torch.isclose(d.norm(), torch.tensor(1.0))


def test_linf_branches_by_hand():
    g1 = torch.tensor([[2.0, -1.0]])
    g2 = torch.tensor([[-2.0, 1.1]])  # opposed: eq. 10
    d = gmla_direction(g1, g2, tau=-0.85, l2=False)
    u2 = g2 / g2.norm()
    expected = g1.sign() - u2 * (u2 * g1.sign()).sum()
    assert torch.allclose(d, expected / expected.abs().max())
    assert d.abs().max() == pytest.approx(1.0)
    g2 = torch.tensor([[1.0, 3.0]])  # not opposed: eq. 11 = sign(g1^ + g2^)
    d = gmla_direction(g1, g2, tau=-0.85, l2=False)
    assert d.tolist() == [[1.0, 1.0]]


def test_without_graph_psi_is_omega_and_it_succeeds():
    model = tiny_cnn(5, seed=2)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    goal = AttackGoal.random(4, 5, size=1, seed=1)
    res = GMLA(GMLAConfig(steps=60))(model, x, goal, LinfBall(0.3))
    assert torch.equal(res.target_set, goal.targets)
    assert res.success.any()


class FakeGraph:
    labels = ("animal", "dog", "cat")


def test_graph_widens_the_target_set(monkeypatch):
    # turning "dog" off must also turn "animal" off when no other child is on
    def fake_consistent(graph, predictions, targets):
        psi = targets.clone()
        psi[:, 0] |= targets[:, 1] & ~predictions[:, 2]
        return psi

    monkeypatch.setattr(mlrobust.graphs, "consistent_target_sets", fake_consistent, raising=False)
    w = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    model = linear_model(w, torch.tensor([-1.8, -0.8, -1.0]))
    x = torch.full((1, 1, 2, 2), 0.5)  # logits [0.2, 0.2, -1.0]: animal, dog on
    goal = AttackGoal(torch.tensor([[False, True, False]]), graph=FakeGraph())
    res = GMLA(GMLAConfig(steps=100, step_size=0.01))(model, x, goal, LinfBall(0.2))
    assert res.target_set.tolist() == [[True, True, False]]
    assert res.success.item()
    assert res.adv_pred.tolist() == [[False, False, False]]


def test_graph_label_count_must_match():
    with pytest.raises(InputError, match="label graph has 3 labels"):
        AttackGoal.random(1, 5, size=1, seed=0, graph=FakeGraph())


def test_tau_must_be_a_cosine():
    with pytest.raises(InputError, match="tau"):
        GMLAConfig(tau=-2.0)


def test_real_label_graph_widens_psi_and_fr_s_checks_consistency():
    import networkx as nx

    from mlrobust.graphs import LabelGraph
    from mlrobust.metrics import consistent_predictions

    graph = LabelGraph(nx.DiGraph([("animal", "dog"), ("animal", "cat")]), leaves=["dog", "cat"])
    assert graph.labels == ("dog", "cat", "animal")
    # logits: dog 0.2, cat -1.0 (independent of x), animal 0.2
    w = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    model = linear_model(w, torch.tensor([-0.8, -1.0, -1.8]))
    x = torch.full((1, 1, 2, 2), 0.5)
    goal = AttackGoal(torch.tensor([[True, False, False]]), graph=graph)  # turn dog off
    res = GMLA(GMLAConfig(steps=100, step_size=0.01))(model, x, goal, LinfBall(0.2))
    assert res.target_set.tolist() == [[True, False, True]]  # animal must go too
    assert res.success.item()
    assert consistent_predictions(graph, res.adv_pred, goal.targets).tolist() == [True]
    # "dog off, animal on" is inconsistent around the target
    bad = torch.tensor([[False, False, True]])
    assert consistent_predictions(graph, bad, goal.targets).tolist() == [False]


def test_branch_shares_and_monitor_settings():
    """Each sample-iteration takes exactly one of eq. 10 / eq. 11; tau = 1 forces eq. 10 (every
    cosine is <= 1), tau = -1 almost never; the monitor setting is checked by name."""
    model = tiny_cnn(5, seed=2)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    goal = AttackGoal.random(3, 5, size=1, seed=1)
    threat = LinfBall(1e-6)  # unreachable: every sample runs every step
    for tau, share in ((1.0, 1.0), (-1.0, 0.0)):
        for monitor in ("psi", "all"):
            attack = GMLA(GMLAConfig(steps=10, tau=tau, monitor=monitor, early_stop=False))
            attack(model, x, goal, threat)
            counts = attack.branch_counts
            assert counts["eq10"] + counts["eq11"] == 3 * 10
            assert counts["eq10"] / 30 == share
    with pytest.raises(InputError, match="monitor must be 'psi' or 'all'"):
        GMLAConfig(monitor="sum")
