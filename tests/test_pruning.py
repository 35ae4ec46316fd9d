"""The pruning catalogue: physical removal, exact counts, masks, reloadable history, errors."""

from __future__ import annotations

import pytest
import torch

from benchmark import pruning
from benchmark.errors import ConfigError
from benchmark.models import build_model
from benchmark.models.schema import ModelConf
from benchmark.plan import plan_cell
from benchmark.pruning import PruningSpec
from benchmark.pruning.counting import count_macs, count_params
from tests.conftest import compose_config

RESNET56_B = dict(stage_ratios=[0.6, 0.3, 0.1], skip_layers=[16, 18, 20, 34, 38, 54])

# paper.md, "Pruning methods": params (M) and FLOPs (M MACs) left by each variant.
PAPER_VARIANTS = [
    ("resnet56", "A", 0.773, 112.4), ("resnet56", "B", 0.736, 90.9), ("resnet56", "C", 0.558, 74.9),
    ("resnet56", "D", 0.437, 64.1), ("resnet110", "A", 1.689, 212.8), ("resnet110", "B", 1.168, 155.1),
    ("resnet110", "C", 0.904, 132.6), ("resnet110", "D", 0.609, 106.2), ("vgg16", "A", 5.40, 206.3),
    ("vgg16", "B", 4.21, 160.6), ("vgg16", "C", 2.64, 95.3),
]


def model(name="resnet56", width=1.0, seed=0):
    torch.manual_seed(seed)
    return build_model(ModelConf(name=name, width=width), 10)


@pytest.mark.parametrize("name,variant,params,flops", PAPER_VARIANTS)
def test_paper_variants_match_the_published_counts_through_plan_mode(name, variant, params, flops):
    plan = plan_cell(compose_config([f"model={name}", "pruner=l1", f"pruner.variant={variant}"]))
    assert plan["params_after"] == pytest.approx(params * 1e6, rel=0.005)
    assert plan["flops_after"] == pytest.approx(flops * 1e6, rel=0.005)


def test_pruning_removes_filters_physically_and_keeps_the_largest_l1():
    m = model()
    conv = m.layer1[0].conv1
    keep = torch.sort(conv.weight.detach().abs().sum((1, 2, 3)), descending=True).values[:8]
    pruning.prune(m, PruningSpec("l1", ratio=0.5), seed=0)
    assert m.layer1[0].conv1.out_channels == 8
    assert m.layer1[0].bn1.num_features == 8 and m.layer1[0].conv2.in_channels == 8
    assert torch.equal(torch.sort(m.layer1[0].conv1.weight.abs().sum((1, 2, 3)), descending=True).values, keep)
    assert m(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("other", ["random", "taylor"])
def test_random_and_taylor_keep_the_l1_architecture_but_choose_other_filters(other):
    l1, alt = model(), model()
    batches = lambda: [(torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(i)),  # noqa: E731
                        torch.arange(8) % 10) for i in range(2)]
    pruning.prune(l1, PruningSpec("l1", **RESNET56_B), seed=0)
    pruning.prune(alt, PruningSpec(other, **RESNET56_B), seed=0, batches=batches)
    assert [p.shape for p in l1.parameters()] == [p.shape for p in alt.parameters()]
    differs = [not torch.equal(a.conv1.weight, b.conv1.weight) for a, b in zip(l1.layer1, alt.layer1)]
    assert any(differs)


def test_taylor_scores_follow_the_first_order_bn_term():
    m = model("resnet20", width=0.5)
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    conv, bn = m.layer1[0].conv1, m.layer1[0].bn1
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.1, 2.0, bn.num_features))
    scores = pruning.structured.taylor_scores(m, torch.Generator(), lambda: [(x, y)])[conv]
    m.eval()
    m.zero_grad()
    torch.nn.functional.cross_entropy(m(x), y).backward()
    expected = (bn.weight * bn.weight.grad + bn.bias * bn.bias.grad).detach().pow(2)
    assert torch.allclose(scores, expected)


def test_random_pruning_is_repeatable_from_its_seed():
    a, b, c = model(), model(), model()
    for m, seed in ((a, 3), (b, 3), (c, 4)):
        pruning.prune(m, PruningSpec("random", ratio=0.5), seed=seed)
    assert torch.equal(a.layer2[1].conv1.weight, b.layer2[1].conv1.weight)
    assert not torch.equal(a.layer2[1].conv1.weight, c.layer2[1].conv1.weight)


@pytest.mark.parametrize("spec", [PruningSpec("l1", ratio=0.4), PruningSpec("mwp", sparsity=0.7)])
def test_history_rebuilds_the_identical_architecture_and_weights(spec):
    m = model("vgg16", width=0.25)
    history = pruning.prune(m, spec, seed=0)
    rebuilt = pruning.rebuild(model("vgg16", width=0.25, seed=1), history)
    rebuilt.load_state_dict(m.state_dict())
    assert m.state_dict().keys() == rebuilt.state_dict().keys()
    for (name, a), (_, b) in zip(m.state_dict().items(), rebuilt.state_dict().items()):
        assert torch.equal(a, b), name
    x = torch.randn(2, 3, 32, 32)
    m.eval(), rebuilt.eval()
    assert torch.equal(m(x), rebuilt(x))


def test_magnitude_pruning_uses_one_global_threshold_over_conv_weights():
    m = model("resnet20")
    before = torch.cat([c.weight.detach().abs().flatten() for c in m.modules() if isinstance(c, torch.nn.Conv2d)])
    threshold = torch.kthvalue(before, int(0.8 * before.numel())).values
    pruning.prune(m, PruningSpec("mwp", sparsity=0.8), seed=0)
    for c in (c for c in m.modules() if isinstance(c, torch.nn.Conv2d)):
        kept = c.weight[c.weight != 0].abs()
        assert kept.numel() == 0 or kept.min() >= threshold
    assert pruning.conv_sparsity(m) == pytest.approx(0.8, abs=1e-4)
    dense = sum(p.numel() for p in model("resnet20").parameters())
    assert count_params(m) == dense - round(0.8 * before.numel())


def test_random_unstructured_reaches_the_same_sparsity_with_other_weights():
    a, b = model("resnet20"), model("resnet20")
    pruning.prune(a, PruningSpec("mwp", sparsity=0.6), seed=0)
    pruning.prune(b, PruningSpec("random_unstructured", sparsity=0.6), seed=0)
    assert pruning.conv_sparsity(a) == pytest.approx(pruning.conv_sparsity(b), abs=1e-4)
    assert not torch.equal(a.layer1[0].conv1.weight == 0, b.layer1[0].conv1.weight == 0)


def test_iterative_magnitude_pruning_takes_a_share_of_the_remaining_weights():
    m = model("resnet20")
    history = pruning.prune(m, PruningSpec("mwp", sparsity=0.3), seed=0)
    pruning.prune(m, PruningSpec("mwp", sparsity=0.3), seed=1, history=history)
    assert pruning.conv_sparsity(m) == pytest.approx(1 - 0.7 * 0.7, abs=1e-3)


def test_target_matching_finds_the_uniform_ratio_for_a_parameter_reduction():
    m = model("resnet56")
    spec = pruning.match_target(m, PruningSpec("l1", ratio=0.0), "params", 0.30)
    trial = model("resnet56")
    pruning.prune(trial, spec, seed=0)
    assert 1 - count_params(trial) / count_params(m) == pytest.approx(0.30, abs=0.01)
    flops_spec = pruning.match_target(m, PruningSpec("l1"), "flops", 0.30)
    trial = model("resnet56")
    pruning.prune(trial, flops_spec, seed=0)
    assert 1 - count_macs(trial) / count_macs(m) == pytest.approx(0.30, abs=0.01)


def test_rounding_widths_to_a_multiple_of_eight():
    m = model("resnet56")
    pruning.prune(m, PruningSpec("l1", ratio=0.3, round_to=8), seed=0)
    assert all(conv.out_channels % 8 == 0 for _, _, conv in m.prunable_convs())


@pytest.mark.parametrize("overrides", [["pruner.ratio=1.0"], ["pruner.ratio=-0.1"], ["pruner.variant=E"],
                                       ["model=vgg16", "pruner.variant=D"], ["pruner.stage_ratios=[0.1,0.2]"],
                                       ["pruner.skip_layers=[3]"], ["pruner=mwp", "pruner.sparsity=1.0"],
                                       ["pruner=mwp", "pruner.variant=B"], ["pruner.rounds=0"]])
def test_bad_pruner_settings_are_one_line_errors_in_plan_mode(overrides):
    with pytest.raises(ConfigError) as info:
        plan_cell(compose_config(["pruner=l1", *overrides]))
    assert "\n" not in str(info.value)


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: A, B, C, D"):
        plan_cell(compose_config(["model=resnet110", "pruner.variant=F"]))
