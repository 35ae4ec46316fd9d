"""The convergence rule on hand-made histories: converged, still climbing, lr never decayed."""

from __future__ import annotations

import pytest

from benchmark.retraining.convergence import assess, fitted_change
from benchmark.retraining.schema import ConvergenceConf, RecipeConf

# E = 8, x0.1 at 4 and 6: the last rate 0.001 runs epochs 6 and 7, the final quarter (2 epochs).
RECIPE = RecipeConf(name="cifar", epochs=8, batch_size=64, lr=0.1, milestones=[4, 6], gamma=0.1,
                    momentum=0.9, weight_decay=1e-4)
RULE = ConvergenceConf()
LRS = [0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


def history(train, val, lrs=LRS):
    return [{"epoch": i, "lr": lr, "train_loss": 1.0, "train_top1": t, "val_top1": v}
            for i, (lr, t, v) in enumerate(zip(lrs, train, val))]


def test_a_finished_baseline_is_converged():
    verdict = assess(history([50, 70, 80, 85, 95, 96, 97.5, 98.0], [40, 55, 60, 62, 70, 70.5, 71.0, 71.2]), RECIPE, RULE)
    assert verdict.converged and verdict.reasons == []
    assert verdict.final_epochs == 2 and verdict.epochs_at_final_lr == 2 and verdict.lr_final
    assert verdict.final_lr == pytest.approx(0.001)
    assert verdict.late_change == pytest.approx(0.2)  # two points: the line through them rises 71.2 - 71.0
    assert verdict.final_train_top1 == 98.0


def test_a_baseline_still_climbing_is_not():
    verdict = assess(history([50, 70, 80, 85, 95, 96, 97.5, 98.0], [40, 55, 60, 62, 66, 68, 70.0, 71.0]), RECIPE, RULE)
    assert not verdict.converged and verdict.lr_final and verdict.train_top1_ok
    assert verdict.late_change == pytest.approx(1.0) and not verdict.late_change_ok
    assert any("moved +1.00 points" in r for r in verdict.reasons)


def test_a_baseline_that_overfits_at_the_final_rate_has_finished_unless_the_rule_bounds_both_ways():
    # validation top-1 falls 1.0 over the final window while training top-1 reaches 99%
    rows = history([50, 70, 80, 85, 95, 97, 98.5, 99.0], [40, 55, 60, 62, 70, 71, 71.0, 70.0])
    verdict = assess(rows, RECIPE, RULE)
    assert verdict.late_change == pytest.approx(-1.0) and verdict.late_change_ok and verdict.converged
    strict = assess(rows, RECIPE, ConvergenceConf(fall_ok=False))
    assert not strict.converged and any("moved -1.00 points" in r for r in strict.reasons)


def test_a_baseline_whose_lr_never_decayed_is_not():
    verdict = assess(history([50, 70, 80, 85, 95, 96, 97.5, 98.0], [70] * 8, lrs=[0.1] * 8), RECIPE, RULE)
    assert not verdict.converged and not verdict.lr_final and verdict.epochs_at_final_lr == 0
    assert verdict.train_top1_ok and verdict.late_change_ok


def test_an_undertrained_baseline_fails_on_training_accuracy_and_the_threshold_is_config():
    rows = history([30, 40, 45, 50, 55, 58, 60.0, 60.5], [30, 40, 44, 47, 50, 51, 51.0, 51.1])
    assert not assess(rows, RECIPE, RULE).converged
    assert any("60.50% < 97%" in r for r in assess(rows, RECIPE, RULE).reasons)
    assert assess(rows, RECIPE, ConvergenceConf(min_train_top1=60.0)).converged


def test_without_a_validation_split_convergence_is_not_claimed():
    rows = [{k: v for k, v in row.items() if k != "val_top1"}
            for row in history([50, 70, 80, 85, 95, 96, 97.5, 98.0], [0] * 8)]
    verdict = assess(rows, RECIPE, RULE)
    assert verdict.late_change is None and not verdict.converged
    assert any("dataset.val_size=0" in r for r in verdict.reasons)


def test_the_fitted_change_is_the_least_squares_rise():
    # y = 2, 4, 3, 5: slope by hand = sum((x - 1.5)(y - 3.5)) / sum((x - 1.5)^2) = (2.25 - 0.25 - 0.25 + 2.25) / 5 = 0.8;
    # rise over 3 steps 2.4
    assert fitted_change([2, 4, 3, 5]) == pytest.approx(2.4)
    assert fitted_change([7]) == 0.0


@pytest.mark.cell
def test_every_record_carries_its_baselines_curve_verdict_and_the_cpu(tiny_cfg, tmp_path):
    from benchmark.cell import run_cell

    record = run_cell(tiny_cfg("dataset.val_size=64", "convergence.min_train_top1=0"), tmp_path / "out").as_dict()
    baseline = record["baseline"]
    assert [row["epoch"] for row in baseline["curve"]] == [0, 1]  # recipe.epochs=2 of the tiny cell
    assert all("val_top1" in row and "train_loss" in row for row in baseline["curve"])
    verdict = baseline["convergence"]
    assert verdict["epochs"] == 2 and verdict["final_epochs"] == 1
    # one epoch in the final window: no trend can be fitted, so convergence is not claimed
    assert verdict["late_change"] is None and verdict["converged"] is False
    device = record["environment"]["device"]
    assert device["cpu_isa"] in ("DEFAULT", "AVX2", "AVX512", "AVX512_BF16", "AMX", "VSX", "ZVECTOR", "NO AVX")
    assert isinstance(device["cpu_native_bf16"], bool) and device["cpu_model"]
    assert record["environment"]["precision"] in ("fp32", "bf16")


def test_a_language_model_cell_refuses_the_rule_it_would_ignore():
    from benchmark.errors import ConfigError
    from benchmark.validation import validate
    from tests.conftest import compose_config

    with pytest.raises(ConfigError, match=r"^convergence\.\*: .*language-model records carry none"):
        validate(compose_config(["+experiment=demo_lm", "convergence.min_train_top1=90"]))
    validate(compose_config(["+experiment=demo_lm"]))  # the defaults pass
