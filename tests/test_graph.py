"""The generic graph pruner: Torch-Pruning importances against hand-computed scores, every
built-in model under every importance, the option-A residual stream, and replayable history."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from benchmark import pruning
from benchmark.errors import ConfigError
from benchmark.models import build_model
from benchmark.models.schema import ModelConf
from benchmark.plan import plan_cell
from benchmark.pruning.counting import count_params
from benchmark.pruning.graph import classifier, example_input, prune_graph, replay_history
from tests.conftest import compose_config

IMP = tp.importance


class Tiny(nn.Module):
    """Two prunable groups: {conv1 out, bn1, conv2 in} and {conv2 out, bn2, fc in}."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 3)
        with torch.no_grad():  # distinct BN scales, so every criterion has something to rank
            self.bn1.weight.uniform_(0.1, 2.0)
            self.bn2.weight.uniform_(0.1, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return self.fc(x.mean((2, 3)))


def tiny(seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    return Tiny().eval()


def batches():
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(2)]


def members(m: Tiny):
    """Per group: (weights over out-channels, BN scale, weights of the next layer's inputs)."""
    return [(m.conv1.weight, m.bn1.weight, m.conv2.weight.transpose(0, 1)),
            (m.conv2.weight, m.bn2.weight, m.fc.weight.transpose(0, 1))]


def hand_scores(m: Tiny, kind: str):
    """Per group, the importance of each channel computed by hand (group mean over members)."""
    if kind in ("taylor", "hessian"):
        m.zero_grad()
        samples = [(x[i:i + 1], y[i:i + 1]) for x, y in batches() for i in range(len(x))]
        if kind == "taylor":  # summed batch gradients, |w * dL/dw| summed per channel
            for x, y in batches():
                F.cross_entropy(m(x), y).backward()
            grads = {p: p.grad.clone() for p in m.parameters()}
        else:  # mean squared per-sample gradients, w^2 * H summed per channel
            grads = {p: torch.zeros_like(p) for p in m.parameters()}
            for x, y in samples:
                m.zero_grad()
                F.cross_entropy(m(x), y).backward()
                for p in m.parameters():
                    grads[p] += p.grad.pow(2) / len(samples)
    scores = []
    for out_w, gamma, in_w in members(m):
        tensors = [out_w, gamma, in_w]
        if kind == "l1":
            terms = [t.detach().abs().flatten(1).sum(1) if t.dim() > 1 else t.detach().abs() for t in tensors]
        elif kind in ("l2", "lamp"):
            terms = [t.detach().pow(2).flatten(1).sum(1) if t.dim() > 1 else t.detach().pow(2) for t in tensors]
        elif kind == "bn":
            terms = [gamma.detach().abs()]
        else:
            parents = [m.conv1.weight, m.bn1.weight, m.conv2.weight] if out_w is m.conv1.weight else \
                [m.conv2.weight, m.bn2.weight, m.fc.weight]
            g = [grads[parents[0]], grads[parents[1]], grads[parents[2]].transpose(0, 1)]
            op = (lambda w, d: (w * d).abs()) if kind == "taylor" else (lambda w, d: w.pow(2) * d)
            terms = [op(t.detach(), d).flatten(1).sum(1) if t.dim() > 1 else op(t.detach(), d) for t, d in zip(tensors, g)]
        scores.append(torch.stack(terms).mean(0))
    return scores


def lamp(score: torch.Tensor) -> torch.Tensor:
    """LAMP (Lee et al. 2021): each score over the sum of the scores not smaller than it."""
    order = torch.argsort(score)
    out = torch.empty_like(score)
    for rank, i in enumerate(order):
        out[i] = score[i] / score[order[rank:]].sum()
    return out


def survivors(dense: Tiny, pruned: Tiny):
    """Indices of the dense out-channels each pruned conv kept."""
    kept = []
    for before, after in ((dense.conv1, pruned.conv1), (dense.conv2, pruned.conv2)):
        rows = before.weight.detach().flatten(1)
        if before is dense.conv2:  # its input channels were pruned too: match on the BN scale
            rows, after_rows = dense.bn2.weight.detach()[:, None], pruned.bn2.weight.detach()[:, None]
        else:
            after_rows = after.weight.detach().flatten(1)
        kept.append(sorted(int((rows == r).all(1).nonzero()) for r in after_rows))
    return kept


@pytest.mark.parametrize("kind,importance", [
    ("l1", lambda: IMP.MagnitudeImportance(p=1)), ("l2", lambda: IMP.MagnitudeImportance(p=2)),
    ("bn", lambda: IMP.BNScaleImportance()), ("taylor", lambda: IMP.TaylorImportance()),
    ("hessian", lambda: IMP.HessianImportance()),
])
def test_uniform_pruning_keeps_the_channels_with_the_highest_hand_computed_score(kind, importance):
    dense, m = tiny(), tiny()
    prune_graph(m, importance=importance(), ratio=0.5, example_inputs=torch.zeros(1, 3, 8, 8), batches=batches)
    expected = [sorted(torch.argsort(s, descending=True)[:n].tolist()) for s, n in zip(hand_scores(dense, kind), (2, 3))]
    assert survivors(dense, m) == expected
    assert m.fc.out_features == 3 and m(torch.zeros(2, 3, 8, 8)).shape == (2, 3)


def test_global_lamp_ranks_the_lamp_normalised_scores_of_all_groups_together():
    dense, m = tiny(), tiny()
    prune_graph(m, importance=IMP.LAMPImportance(p=2), ratio=0.5, global_pruning=True,
                example_inputs=torch.zeros(1, 3, 8, 8))
    scores = [lamp(s) for s in hand_scores(dense, "lamp")]
    drop = set(torch.argsort(torch.cat(scores))[:5].tolist())  # 10 channels in all, half go
    expected = [[c for c in range(4) if c not in drop], [c for c in range(6) if c + 4 not in drop]]
    assert survivors(dense, m) == expected


def cifar(name: str, width: float = 0.25, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelConf(name=name, width=width), 10).eval()


def test_option_a_resnet_keeps_its_residual_stream_and_the_classifier_input_matches():
    """The issue's failure: MetaPruner at 0.3 on ResNet-20 left 59 channels before a 44-input fc."""
    m = cifar("resnet20", width=1.0)
    prune_graph(m, importance=IMP.MagnitudeImportance(p=1), ratio=0.3, example_inputs=example_input(m))
    assert m.conv1.out_channels == 16 and all(b.conv2.out_channels == b.bn2.num_features for b in m.layer3)
    assert m.fc.in_features == m.layer3[-1].conv2.out_channels == 64
    assert [b.conv1.out_channels for b in m.layer1] == [int(16 * 0.7)] * 3
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


IMPORTANCES = [IMP.MagnitudeImportance, IMP.BNScaleImportance, IMP.LAMPImportance, IMP.TaylorImportance,
               IMP.HessianImportance, IMP.RandomImportance, IMP.FPGMImportance]


@pytest.mark.parametrize("name", ["resnet20", "vgg16", "resnet18"])
@pytest.mark.parametrize("global_pruning", [False, True])
def test_every_importance_prunes_every_built_in_model_and_its_history_replays(name, global_pruning):
    data = lambda: [(torch.randn(2, 3, 32, 32), torch.tensor([1, 2]))]  # noqa: E731
    for importance in IMPORTANCES:
        m = cifar(name)
        with torch.no_grad():  # trained-looking BN scales, so global BN-scale ranking has spread
            for bn in (b for b in m.modules() if isinstance(b, nn.BatchNorm2d)):
                bn.weight.uniform_(0.1, 2.0)
        dense, params = copy.deepcopy(m), count_params(m)
        history = prune_graph(m, importance=importance(), ratio=0.4, example_inputs=example_input(m),
                              global_pruning=global_pruning, batches=data)
        assert count_params(m) < params, importance.__name__
        assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
        rebuilt = replay_history(dense, history, example_input(dense))
        assert [p.shape for p in rebuilt.state_dict().values()] == [p.shape for p in m.state_dict().values()]


def test_classifier_is_the_layer_producing_the_output():
    m = cifar("vgg16")
    assert classifier(m, example_input(m)) is m.classifier[-1]


def test_l1_falls_back_to_the_graph_for_a_model_without_prunable_convs():
    m, params = tiny(), count_params(tiny())
    history = pruning.prune(m, pruning.PruningSpec("l1", ratio=0.5), seed=0, image_size=8)
    assert count_params(m) < params and history["filters"]
    rebuilt = pruning.rebuild(tiny(), history, image_size=8)
    rebuilt.load_state_dict(m.state_dict())
    assert torch.equal(rebuilt(torch.ones(1, 3, 8, 8)), m(torch.ones(1, 3, 8, 8)))


def test_torch_pruning_in_plan_mode_matches_l1_widths_on_the_cifar_resnet():
    """Uniform magnitude pruning of the unprotected groups is PFEC's architecture."""
    tp_plan = plan_cell(compose_config(["model=resnet20", "pruner=torch_pruning", "pruner.ratio=0.5"]))
    l1_plan = plan_cell(compose_config(["model=resnet20", "pruner=l1", "pruner.ratio=0.5"]))
    assert tp_plan["params_after"] == l1_plan["params_after"] < tp_plan["params_before"]


@pytest.mark.parametrize("overrides,message", [
    (["pruner.importance._target_=torch_pruning.importance.Nope"], "cannot be built"),
    (["+pruner.importance.bogus=1"], "cannot be built"),
    (["pruner.ratio=1.0"], "must lie in"),
    (["pruner.skip_layers=[99]"], "not prunable layer ids"),
    (["pruner.stage_ratios=[0.1,0.2,0.3,0.4,0.5]"], "prunes by one pruner.ratio"),
    (["pruner.global_pruning=true", "pruner.importance._target_=torch_pruning.importance.TaylorImportance",
      "pruner.target_reduction=0.3"], "cannot be matched"),
])
def test_bad_torch_pruning_settings_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        plan_cell(compose_config(["model=vgg16", "model.width=0.25", "pruner=torch_pruning", *overrides]))
    assert "\n" not in str(info.value)
