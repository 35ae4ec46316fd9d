"""The retraining axis since 2021: LLR/ALLR, cosine and REX, exact LRW, KD, WR, Scratch, BN recalibration."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from benchmark import preparation
from benchmark.cell import validate
from benchmark.errors import ConfigError
from benchmark.retraining import schedules
from benchmark.retraining.distill import kd_loss
from benchmark.retraining.recalibration import recalibrate
from benchmark.retraining.rewinding import LrTrace, recorded_tail, rewind, snapshot_path
from benchmark.retraining.schema import BudgetAwareScheduleConf, LRWScheduleConf, RecipeConf
from benchmark.tasks import cell_identity
from tests.conftest import compose_config

warnings.filterwarnings("ignore", message=".*lr_scheduler.*")


def torch_lrs(optimizer, scheduler, total):
    out = []
    for _ in range(total):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def ours(name, epochs, steps, recipe=RecipeConf(), **fields):
    schedule = BudgetAwareScheduleConf(name=name, **fields)
    return [schedules.lr_momentum(s, steps, epochs, schedule, recipe)[0] for s in range(epochs * steps)]


@pytest.mark.parametrize("epochs,steps", [(3, 10), (7, 13)])
def test_llr_equals_torch_cosine_warmup_then_linear(epochs, steps):
    """BIMP's LLR: CosineAnnealingLR from 0 up to max lr over int(0.1 N) iterations, then LinearLR to 0."""
    total, peak = epochs * steps, 0.1
    warm = int(0.1 * total)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    up = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=warm, eta_min=peak)
    down = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=total - warm)
    down.base_lrs = [peak]  # as the BIMP code resets them
    ref = torch.optim.lr_scheduler.SequentialLR(opt, [up, down], milestones=[warm])
    assert ours("llr", epochs, steps) == pytest.approx(torch_lrs(opt, ref, total), abs=1e-12)


def test_cosine_to_zero_equals_torch_cosine_annealing():
    total = 40 * 9
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=0.0)
    assert ours("cosine", 40, 9, warmup_fraction=0.0) == pytest.approx(torch_lrs(opt, ref, total), abs=1e-12)


def test_cosine_with_warmup_is_the_ramp_then_torch_cosine_over_the_rest():
    total, warm = 20 * 5, 25
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warm, eta_min=0.0)
    got = ours("cosine", 20, 5, warmup_fraction=0.25)
    assert got[warm:] == pytest.approx(torch_lrs(opt, ref, total - warm), abs=1e-12)
    assert got[:warm] == pytest.approx([0.1 * (1 - math.cos(math.pi * s / warm)) / 2 for s in range(warm)])


def test_rex_by_hand():
    """REX: peak (1 - p) / (1/2 + (1 - p)/2): 1, 6/7 at p = 1/4, 2/3 at p = 1/2, 2/5 at p = 3/4."""
    got = ours("rex", 4, 1, recipe=RecipeConf(lr=0.3), warmup_fraction=0.0)
    assert got == pytest.approx([0.3, 0.3 * 6 / 7, 0.3 * 2 / 3, 0.3 * 2 / 5])


def test_allr_rate_by_hand_on_a_tiny_model():
    before = nn.Linear(2, 1, bias=False)
    after = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        before.weight.copy_(torch.tensor([[3.0, 4.0]]))
        after.weight.copy_(torch.tensor([[0.0, 4.0]]))
    measured = preparation.norm_drop(before, after)
    assert measured == pytest.approx({"norm_drop": 3 / 5, "pruned_fraction": 1 / 2})  # sqrt(25 - 16) / 5
    recipe = RecipeConf()  # max lr 0.1, E = 160
    assert schedules.allr_peak(0.6, 0.5, 40, recipe) == pytest.approx(0.6 / math.sqrt(0.5) * 0.1)
    assert schedules.allr_peak(0.01, 0.5, 40, recipe) == pytest.approx(40 / 160 * 0.1)  # lower clip T/E
    assert schedules.allr_peak(0.9, 0.1, 40, recipe) == pytest.approx(0.1)  # upper clip


def test_kd_loss_by_hand():
    student, teacher, labels = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([0])
    alpha, tau = 0.25, 2.0
    ce = -math.log(math.e / (math.e + 1))
    q = [math.exp(0.5) / (math.exp(0.5) + 1), 1 / (math.exp(0.5) + 1)]  # student at tau
    p = [1 / (1 + math.e), math.e / (1 + math.e)]  # teacher at tau
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert float(kd_loss(student, teacher, labels, alpha, tau)) == pytest.approx((1 - alpha) * ce + alpha * tau**2 * kl)


def test_exact_lrw_replay_equals_recipe_lrw_on_a_step_recipe(tmp_path):
    from benchmark.data import DeviceLoader, synthetic_splits
    from benchmark.data.schema import SyntheticDatasetConf
    from benchmark.retraining.schema import OriginalScheduleConf
    from benchmark.train import TrainSettings, train

    split, _ = synthetic_splits(SyntheticDatasetConf(train_size=96, test_size=8))
    recipe = RecipeConf(epochs=6, lr=0.05, milestones=[2, 4], gamma=0.5)
    torch.manual_seed(0)
    result = train(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)),
                   DeviceLoader(split, 32, torch.device("cpu"), True, seed=0), epochs=6,
                   schedule=OriginalScheduleConf(), recipe=recipe, checkpoint=tmp_path / "c.pt", desc="baseline",
                   settings=TrainSettings(progress="off"))
    assert len(result.lr_trace) == 3, "a step recipe records three runs"
    for epochs in (1, 3, 6):
        derived = [schedules.lr_momentum(s, 3, epochs, LRWScheduleConf(), recipe)[0] for s in range(epochs * 3)]
        assert recorded_tail(result.lr_trace, epochs, 3, 6) == derived
    with pytest.raises(ConfigError, match="do not align"):
        recorded_tail(result.lr_trace, 2, 4, 6)


def test_lr_trace_round_trips():
    trace = LrTrace()
    for lr in [0.1, 0.1, 0.01, 0.01, 0.01, 0.1]:
        trace.add(lr)
    assert trace.runs == [[0.1, 2], [0.01, 3], [0.1, 1]] and len(LrTrace(trace.runs)) == 6


def test_weight_rewinding_restores_the_baseline_epoch_weights_on_the_surviving_filters(tmp_path):
    from benchmark import pruning
    from benchmark.models import build_model
    from benchmark.models.schema import ModelConf
    from benchmark.pruning.schema import PrunerConf

    def model(seed):
        torch.manual_seed(seed)
        return build_model(ModelConf(name="resnet20", width=0.25), 10)

    early, final = model(1), model(2)  # baseline weights at epoch E - T and at E
    snapshot_path(tmp_path, 3).parent.mkdir(parents=True)
    torch.save({"state_dict": early.state_dict(), "epoch": 3}, snapshot_path(tmp_path, 3))
    pruned = model(2)
    spec = pruning.resolve(PrunerConf(name="l1", ratio=0.5), "resnet20")
    history = pruning.prune(pruned, spec, seed=0)
    rewind(pruned, model(9), history, tmp_path, 3)
    checked = 0
    for (name, conv), dense_final, dense_early in zip(pruned.named_modules(), final.modules(), early.modules()):
        if isinstance(conv, nn.Conv2d) and conv.out_channels < dense_final.out_channels \
                and conv.in_channels == dense_final.in_channels:
            # which filters survived: the rows of the final baseline that pruning kept (L1 keeps the largest)
            norms = dense_final.weight.abs().sum(dim=(1, 2, 3))
            kept = sorted(norms.topk(conv.out_channels).indices.tolist())
            assert torch.equal(conv.weight, dense_early.weight[kept]), name
            checked += 1
    assert checked > 0


def test_scratch_b_epochs_from_the_flops():
    assert preparation.scratch_epochs("scratch_b", 160, 125.5e6, 50.2e6) == 400  # round(160 x 2.5)
    assert preparation.scratch_epochs("scratch_b", 160, 125.5e6, 71.1e6) == round(160 * 125.5 / 71.1) == 282
    assert preparation.scratch_epochs("scratch_e", 160, 125.5e6, 50.2e6) == 160


def test_scratch_stretches_the_recipe_milestones():
    recipe = RecipeConf(epochs=160, milestones=[80, 120])
    schedule = compose_config(["schedule=scratch_b"]).schedule
    lrs = schedules.lr_at_epoch_start(1, 400, schedule, recipe)
    assert lrs[199] == pytest.approx(0.1) and lrs[200] == pytest.approx(0.01) and lrs[300] == pytest.approx(0.001)


def test_bn_recalibration_re_estimates_the_statistics_over_the_fraction():
    class Loader:
        batches = [torch.full((4, 2, 1, 1), float(v)) for v in (1.0, 3.0, 5.0, 100.0)]

        def __len__(self):
            return len(self.batches)

        def epoch(self, e):
            return ((b, None) for b in self.batches)

    bn = nn.BatchNorm2d(2)
    info = recalibrate(nn.Sequential(bn), Loader(), 0.75)
    assert info["batches"] == 3 and torch.allclose(bn.running_mean, torch.full((2,), 3.0))  # mean of 1, 3, 5
    assert bn.momentum == 0.1, "the module's own momentum is restored"


@pytest.mark.parametrize("overrides,message", [
    (["schedule=wr", "budget.epochs=200"], "schedule=wr rewinds .* budget T=200"),
    (["distill=kd", "distill.alpha=1.5"], "distill.alpha=1.5 is outside its domain: must lie in \\[0, 1\\]"),
    (["distill=kd", "distill.temperature=0"], "distill.temperature=0.0 is outside its domain"),
    (["bn_recalibration=0"], "bn_recalibration=0.0 is outside its domain: must lie in \\(0, 1\\]"),
    (["bn_recalibration=1.5"], "bn_recalibration=1.5 is outside its domain"),
    (["schedule=allr", "schedule.peak_lr=0.1"], "allr decides its rate after pruning"),
    (["schedule=llr", "schedule.warmup_fraction=1.0"], "schedule.warmup_fraction=1.0"),
    (["schedule=lrw", "schedule.source=tape"], "schedule.source='tape'"),
    (["rewind_epochs=[500]"], r"rewind_epochs=\[500\]"),
])
def test_bad_new_keys_are_one_line_errors_before_training(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        validate(compose_config(overrides))
    assert "\n" not in str(info.value)


def test_new_options_enter_the_cell_identity_only_when_used():
    base = cell_identity(compose_config([]), 40)
    assert cell_identity(compose_config(["distill=none", "rewind_epochs=[120]"]), 40) == base
    kd = cell_identity(compose_config(["distill=kd"]), 40)
    assert kd.pruned == base.pruned and kd.cell != base.cell
    assert cell_identity(compose_config(["distill=kd", "distill.alpha=0.9"]), 40).cell != kd.cell
    assert cell_identity(compose_config(["distill=kd", "distill.temperature=2"]), 40).cell != kd.cell
    assert cell_identity(compose_config(["bn_recalibration=0.1"]), 40).cell != base.cell


@pytest.mark.cell
def test_new_schedules_run_as_cells_on_one_cached_baseline(tiny_cfg, tmp_path):
    """WR, ALLR, Scratch-B, recorded LRW and CLR+KD with BN recalibration share one baseline and pruned model."""
    from benchmark.cell import run_cell

    common = ["rewind_epochs=[1]", "budget.epochs=1"]
    wr = run_cell(tiny_cfg("schedule=wr", *common), tmp_path / "wr").as_dict()
    base_dir = tmp_path / "cache" / "baselines" / wr["identity"]["baseline"]
    assert snapshot_path(base_dir, 1).exists() and wr["retraining"]["rewound_to_epoch"] == 1
    allr = run_cell(tiny_cfg("schedule=allr", *common), tmp_path / "allr").as_dict()
    info = allr["retraining"]["allr"]
    assert 0 < info["norm_drop"] < 1 and info["pruned_fraction"] == pytest.approx(allr["model"]["sparsity"], abs=0.01)
    assert info["lr"] == pytest.approx(schedules.allr_peak(info["norm_drop"], info["pruned_fraction"], 1,
                                                           RecipeConf(epochs=2)))
    scratch = run_cell(tiny_cfg("schedule=scratch_b", *common), tmp_path / "scratch").as_dict()
    trained = round(2 * scratch["model"]["flops_before"] / scratch["model"]["flops_after"])
    assert scratch["retraining"]["budget"] == {"epochs_trained": trained, "is_budget_T": False, "T": 1}
    assert len(scratch["history"]) == trained
    lrw = run_cell(tiny_cfg("schedule=lrw", "schedule.source=recorded", *common), tmp_path / "lrw").as_dict()
    assert lrw["retraining"]["lrw_source"] == "recorded" and [r["lr"] for r in lrw["history"]] == pytest.approx([0.01])
    kd = run_cell(tiny_cfg("schedule=clr", "distill=kd", "bn_recalibration=0.5", *common), tmp_path / "kd").as_dict()
    assert kd["retraining"]["distill"]["extra_seconds_per_epoch"] > 0
    assert kd["retraining"]["bn_recalibration"]["batches"] == 2  # half of 4 batches of 64 out of 256 images
    records = (wr, allr, scratch, lrw, kd)
    assert len({r["identity"]["baseline"] for r in records}) == 1 and len({r["identity"]["pruned"] for r in records}) == 1
    assert all(r["status"] == "finished" for r in records)


def _record(folder, schedule, seed, acc, distill="none", **extra):
    import json

    from tests.test_tables import write_record

    record = write_record(folder, schedule, seed, acc)
    record["config"]["distill"] = {"name": distill}
    record["identity"]["cell"] += f"-{distill}"
    record.update(extra)
    (folder / "record.json").write_text(json.dumps(record))


def test_tables_and_lr_figure_cover_the_new_schedules_and_kd(tmp_path):
    from benchmark.report import figures, tables
    from benchmark.report.collect import collect

    accs = {"ft": [80.0, 81.0], "allr": [84.0, 85.5], "wr": [79.0, 80.0], "scratch_b": [70.0, 71.0],
            "llr": [83.0, 84.0]}
    for schedule, values in accs.items():
        for seed, acc in enumerate(values):
            extra = {"retraining": {"allr": {"lr": 0.05}}} if schedule == "allr" else {}
            _record(tmp_path / f"{schedule}{seed}", schedule, seed, acc, **extra)
    for seed, acc in enumerate([86.0, 86.5]):
        _record(tmp_path / f"kd{seed}", "clr", seed, acc, distill="kd")
    frame = tables.tidy(collect([tmp_path]))
    row = tables.comparison(frame).iloc[0]
    expected = ["FT", "WR", "CLR+KD", "LLR", "ALLR", "SCRATCH_B"]  # the registry's order
    assert [c for c in row.index if c in expected] == expected
    # seed-paired against FT (both seeds agree in sign here, so each difference is marked)
    assert (row["ALLR-FT"], row["CLR+KD-FT"], row["SCRATCH_B-FT"]) == ("+4.25*", "+5.75*", "-10.00*")
    recipe, confs, steps = figures.schedules_of(frame)
    assert confs["allr"].peak_lr == 0.05 and "clr" in confs  # ALLR at its recorded rate; CLR+KD on CLR's curve
    _, lines = figures.lr_schedules(10, steps, recipe, confs)
    assert set(lines["lr"]) == {"ft", "wr", "clr", "llr", "allr"}  # Scratch-B runs its own length: left out
    assert max(lines["lr"]["allr"].get_ydata()) == pytest.approx(0.05)


def test_plan_mode_says_allr_is_decided_after_pruning_and_derives_an_adamw_recipe(tiny_cfg):
    from benchmark.plan import format_plan, plan_cell

    text = format_plan(plan_cell(tiny_cfg("schedule=allr")), "text")
    assert "decided after pruning" in text and "epoch    0" not in text
    plan = plan_cell(tiny_cfg("schedule=ft", "recipe=vit_cifar", "recipe.epochs=4", "recipe.warmup_epochs=1"))
    assert plan["derivation"][0].startswith("recipe    adamw (beta1 0.9, weight decay 0.05)")
    assert "FT: constant lr_orig(E - 1)" in plan["derivation"][1] and "beta1 0.9" in plan["derivation"][1]
    recipe = RecipeConf(optimizer="adamw", epochs=4, lr=1e-3, weight_decay=0.05, shape="cosine", min_lr=1e-5,
                        warmup_epochs=1, milestones=[])
    assert plan["lr_at_epoch_start"] == pytest.approx([schedules.final_original_lr(recipe)] * 2)
