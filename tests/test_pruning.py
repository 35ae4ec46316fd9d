"""L1 and random filter pruning: physical removal, exact counts, reloadable history."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from benchmark import pruning
from benchmark.counting import count_macs, count_params
from benchmark.errors import ConfigError
from benchmark.models import build_model

RESNET56_B = dict(stage_ratios=[0.6, 0.3, 0.1], skip_layers=[16, 18, 20, 34, 38, 54])


def pruner(name="l1", ratio=0.0, stage_ratios=None, skip_layers=()):
    return SimpleNamespace(name=name, ratio=ratio, stage_ratios=stage_ratios, skip_layers=list(skip_layers))


def model(name="resnet56", width=1.0, seed=0):
    torch.manual_seed(seed)
    return build_model(SimpleNamespace(name=name, width=width), 10)


def test_resnet56_b_matches_the_paper_within_half_a_percent():
    m = model()
    pruning.prune(m, pruner(**RESNET56_B), seed=0)
    # paper.md: ResNet-56-B keeps 0.736M params and 90.9M FLOPs.
    assert count_params(m) == pytest.approx(0.736e6, rel=0.005)
    assert count_macs(m) == pytest.approx(90.9e6, rel=0.005)


def test_pruning_removes_filters_physically_and_keeps_the_largest_l1():
    m = model()
    conv = m.layer1[0].conv1
    norms = conv.weight.detach().abs().sum((1, 2, 3))
    keep = torch.sort(norms, descending=True).values[:8]
    pruning.prune(m, pruner(ratio=0.5), seed=0)
    assert m.layer1[0].conv1.out_channels == 8
    assert m.layer1[0].bn1.num_features == 8 and m.layer1[0].conv2.in_channels == 8
    assert torch.equal(torch.sort(m.layer1[0].conv1.weight.abs().sum((1, 2, 3)), descending=True).values, keep)
    assert m(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_random_pruning_has_the_l1_architecture_but_other_filters():
    l1, rnd = model(), model()
    pruning.prune(l1, pruner("l1", 0.5), seed=0)
    pruning.prune(rnd, pruner("random", 0.5), seed=0)
    assert [p.shape for p in l1.parameters()] == [p.shape for p in rnd.parameters()]
    assert not torch.equal(l1.layer1[0].conv1.weight, rnd.layer1[0].conv1.weight)


def test_random_pruning_is_repeatable_from_its_seed():
    a, b, c = model(), model(), model()
    for m, seed in ((a, 3), (b, 3), (c, 4)):
        pruning.prune(m, pruner("random", 0.5), seed=seed)
    assert torch.equal(a.layer2[1].conv1.weight, b.layer2[1].conv1.weight)
    assert not torch.equal(a.layer2[1].conv1.weight, c.layer2[1].conv1.weight)


def test_history_rebuilds_the_identical_architecture_and_weights():
    m = model("vgg16", width=0.25)
    history = pruning.prune(m, pruner("l1", 0.4), seed=0)
    rebuilt = pruning.apply_history(model("vgg16", width=0.25, seed=1), history)
    rebuilt.load_state_dict(m.state_dict())
    for (name, a), (_, b) in zip(m.state_dict().items(), rebuilt.state_dict().items()):
        assert torch.equal(a, b), name
    x = torch.randn(2, 3, 32, 32)
    m.eval(), rebuilt.eval()
    assert torch.equal(m(x), rebuilt(x))


def test_skipped_layers_stay_whole():
    m = model()
    pruning.prune(m, pruner(**RESNET56_B), seed=0)
    widths = {layer_id: conv.out_channels for layer_id, _, conv in m.prunable_convs()}
    assert widths[16] == 16 and widths[38] == 64
    assert widths[2] == int(16 * (1 - 0.6)) and widths[22] == int(32 * (1 - 0.3))


@pytest.mark.parametrize("bad", [pruner(ratio=1.0), pruner(ratio=-0.1), pruner(name="l2"),
                                 pruner(stage_ratios=[0.1, 0.2]), pruner(skip_layers=[3])])
def test_bad_pruner_settings_are_one_line_errors(bad):
    with pytest.raises(ConfigError) as info:
        pruning.validate(bad, model())
    assert "\n" not in str(info.value)
