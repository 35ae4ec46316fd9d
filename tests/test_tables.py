"""The collector and the comparison table, on records written to disk."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

import pytest

from benchmark.report import published, tables
from benchmark.report.collect import collect


def write_record(folder: Path, schedule: str, seed: int, acc: float, status: str = "finished", cell: str | None = None,
                 dataset: str = "synthetic", model: str = "resnet20", width: float = 1.0, variant: str | None = None,
                 epochs: int = 10, baseline: float = 90.0, pruner: str = "l1", sparsity: float = 0.4, **schedule_fields):
    record = {
        "identity": {"cell": cell, "pruned": "p", "baseline": "b"},
        "name": f"{dataset}-{model}-{pruner}-{schedule}-T{epochs}-s{seed}",
        "status": status,
        "budget_epochs": epochs,
        "steps_per_epoch": 4,
        "config": {"dataset": {"name": dataset}, "model": {"name": model, "width": width},
                   "recipe": {"epochs": 16, "lr": 0.1, "milestones": [8, 12], "gamma": 0.1, "momentum": 0.9},
                   "pruner": {"name": pruner, "ratio": 0.5, "stage_ratios": None, "skip_layers": [], "variant": variant},
                   "schedule": {"name": schedule, **schedule_fields}, "budget": {"epochs": epochs, "fraction": None},
                   "seed": {"baseline": 0, "prune": 0, "retrain": seed}},
        "seeds": {"baseline": 0, "prune": 0, "retrain": seed},
        "metrics": {"test_top1": acc, "baseline_test_top1": baseline} if status == "finished" else {},
        "model": {"params_before": 100, "params_after": 60, "flops_before": 1000, "flops_after": 500,
                  "sparsity": sparsity},
    }
    if cell is None:  # distinct settings, distinct cells (as the suite's identity hash does)
        record["identity"]["cell"] = "cell-" + hashlib.sha256(json.dumps(record["config"], sort_keys=True).encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.json").write_text(json.dumps(record))
    return record


ACC = {"ft": [80.0, 81.0, 79.5], "lrw": [82.0, 82.5, 81.0], "slr": [81.0, 80.0, 82.0], "clr": [84.0, 85.0, 84.5]}


@pytest.fixture
def sweep(tmp_path):
    for schedule, accs in ACC.items():
        for seed, acc in enumerate(accs):
            write_record(tmp_path / "runs" / f"{schedule}{seed}", schedule, seed, acc)
    return tmp_path / "runs"


def test_table_reports_mean_std_n_and_marks_the_best(sweep):
    table = tables.comparison(tables.tidy(collect([sweep])))
    assert len(table) == 1
    row = table.iloc[0]
    for schedule, accs in ACC.items():
        text = f"{statistics.mean(accs):.2f} ± {statistics.stdev(accs):.2f} (n=3)"
        assert text in row[schedule.upper()]
    assert row["CLR"].startswith("**") and not row["FT"].startswith("**")
    assert row["params -%"] == "40.0" and row["FLOPs -%"] == "50.0" and row["baseline"] == "90.00 (n=1)"  # one baseline, shared
    # By mean CLR > LRW > SLR > FT; per seed: 84/82/81/80 holds, 85/82.5/80/81 (SLR < FT) and
    # 84.5/81/82/79.5 (LRW < SLR) do not.
    assert row["order (seeds where it holds)"] == "CLR > LRW > SLR > FT (1/3 seeds)"


def test_the_baseline_column_counts_each_seed_s_own_baseline_once(tmp_path):
    """With seed=linked every seed trains its own baseline: four schedules per seed share it, so
    the column's n is the number of baselines (3), not of records (12)."""
    own = [88.0, 90.0, 95.0]
    for schedule, accs in ACC.items():
        for seed, acc in enumerate(accs):
            record = write_record(tmp_path / f"{schedule}{seed}", schedule, seed, acc, baseline=own[seed])
            record["identity"]["baseline"] = f"base-{seed}"
            (tmp_path / f"{schedule}{seed}" / "record.json").write_text(json.dumps(record))
    row = tables.comparison(tables.tidy(collect([tmp_path]))).iloc[0]
    assert row["baseline"] == f"{statistics.mean(own):.2f} ± {statistics.stdev(own):.2f} (n=3)"


def test_paired_difference_to_ft_is_marked_only_when_its_interval_excludes_zero(sweep):
    row = tables.comparison(tables.tidy(collect([sweep]))).iloc[0]
    clr_minus_ft = statistics.mean(c - f for c, f in zip(ACC["clr"], ACC["ft"]))
    assert row["CLR-FT"] == f"{clr_minus_ft:+.2f}*"
    assert not row["SLR-FT"].endswith("*")  # +1.0, -1.0, +2.5: the interval straddles zero


def test_the_same_cell_twice_counts_once_and_failures_are_listed(sweep):
    again = write_record(sweep / "again", "ft", 0, 80.0)  # the same cell as sweep/ft0
    write_record(sweep / "broken", "lrw", 7, 0.0, status="diverged")
    frame = tables.tidy(collect([sweep]))
    assert (frame["identity.cell"] == again["identity"]["cell"]).sum() == 1
    assert "(n=3)" in tables.comparison(frame).iloc[0]["FT"]
    problems = tables.unfinished(frame)
    assert problems["status"].tolist() == ["diverged"]


def test_cli_writes_markdown_csv_latex_and_says_when_there_is_nothing(sweep, tmp_path, capsys):
    assert tables.main([str(sweep), "--out", str(tmp_path / "results")]) == 0
    for suffix in ("md", "csv", "tex"):
        assert (tmp_path / "results" / f"comparison.{suffix}").stat().st_size > 0
    assert tables.main([str(tmp_path / "empty"), "--out", str(tmp_path / "r2")]) == 1
    assert "no records found" in capsys.readouterr().err


def test_variant_and_clr_lrw_get_rows_and_columns_of_their_own(tmp_path):
    for seed, acc in enumerate([80.0, 81.0]):
        write_record(tmp_path / f"b{seed}", "ft", seed, acc, variant="B")
        write_record(tmp_path / f"u{seed}", "ft", seed, acc + 5)
        write_record(tmp_path / f"c{seed}", "clr", seed, acc + 1, variant="B", max_lr_rule="lrw")
        write_record(tmp_path / f"r{seed}", "clr", seed, acc + 2, variant="B", max_lr_rule="recipe")
    table = tables.comparison(tables.tidy(collect([tmp_path]))).set_index("pruner")
    assert sorted(table.index) == ["l1 0.5", "l1-B"]
    assert table.loc["l1-B", "CLR"].startswith("**82.50") and table.loc["l1-B", "CLR_LRW"].startswith("81.50")
    assert table.loc["l1 0.5", "FT"].startswith("85.50") and table.loc["l1 0.5", "CLR"] == ""


def test_hundreds_of_records_with_duplicates_and_failures_collect_correctly(tmp_path):
    """400 distinct cells (2 models x 2 pruners x 4 schedules x 5 budgets x 5 seeds), 40 copies
    of some of them and 12 unfinished cells: every row mean and n must come out right."""
    import itertools
    import random

    rng = random.Random(0)
    expected = {}
    grid = itertools.product(["resnet20", "resnet32"], ["l1", "random"], list(ACC), [10, 20, 30, 40, 50], range(5))
    for i, (model, pruner, schedule, epochs, seed) in enumerate(grid):
        acc = round(rng.uniform(60, 90), 2)
        expected.setdefault((model, f"{pruner} 0.5", epochs, schedule), []).append(acc)
        write_record(tmp_path / "runs" / str(i), schedule, seed, acc, model=model, pruner=pruner, epochs=epochs)
        if i % 10 == 0:  # the same cell again, e.g. its copy in the cache
            write_record(tmp_path / "cache" / str(i), schedule, seed, acc, model=model, pruner=pruner, epochs=epochs)
    for i in range(12):
        write_record(tmp_path / "bad" / str(i), "slr", 100 + i, 0.0, status=["diverged", "running", "failed"][i % 3])
    frame = tables.tidy(collect([tmp_path]))
    assert len(frame) == 412 and frame["identity.cell"].is_unique
    table = tables.comparison(frame)
    assert len(table) == 2 * 2 * 5
    for _, row in table.iterrows():
        for schedule in ACC:
            accs = expected[(row["model"], row["pruner"], int(row["T"]), schedule)]
            assert row[schedule.upper()].strip("*").startswith(f"{statistics.mean(accs):.2f} ± {statistics.stdev(accs):.2f} (n=5)")
    assert sorted(tables.unfinished(frame)["status"]) == sorted(["diverged", "running", "failed"] * 4)


def test_published_numbers_load_as_data_with_the_papers_values():
    cifar = published.load("cifar10_accuracy_change")
    assert len(cifar) == 96 and not cifar.duplicated(["model", "variant", "schedule", "T"]).any()
    assert set(cifar["model"] + "-" + cifar["variant"]) == {"resnet56-B", "resnet110-B", "vgg16-A"}
    assert sorted(cifar["T"].unique()) == list(range(40, 153, 16)) and set(cifar["schedule"]) == set(ACC)
    at = cifar.set_index(["model", "variant", "schedule", "T"])["delta"]
    assert at[("resnet56", "B", "clr", 120)] == 0.32 and at[("resnet110", "B", "slr", 152)] == 0.21
    assert at[("vgg16", "A", "lrw", 72)] == 0.0 and at[("resnet56", "B", "ft", 40)] == -0.53
    taylor = published.load("imagenet_taylor_fo_bn").set_index("pruned_model")
    assert len(taylor) == 3 and taylor.loc["Taylor-FO-BN-72%", "clr_top1"] == 75.22
    dcp = published.load("imagenet_l1_clr_vs_dcp")
    assert len(dcp) == 12 and (dcp["method"] == "DCP").sum() == 6
    assert dcp.loc[(dcp["model"] == "resnet50") & (dcp["method"] == "L1 + CLR"), "pruned_top1"].tolist() == [76.03, 75.16, 72.92]


PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper.md"


@pytest.mark.skipif(not PAPER.exists(), reason=f"{PAPER} is not here to check the transcription against")
def test_every_published_cifar_value_matches_paper_md():
    text = PAPER.read_text()
    at = published.load("cifar10_accuracy_change").set_index(["model", "variant", "schedule", "T"])["delta"]
    for title, (model, variant) in {"ResNet-56-B": ("resnet56", "B"), "ResNet-110-B": ("resnet110", "B"),
                                    "VGG-16-A": ("vgg16", "A")}.items():
        lines = [line for line in text.split(f"\n{title}\n", 1)[1].splitlines()[:6]]
        budgets = [int(x) for x in lines[0].strip("|").split("|")[1:]]
        for line in lines[2:6]:
            name, *values = [c.strip() for c in line.strip("|").split("|")]
            for epochs, value in zip(budgets, values):
                assert at[(model, variant, name.lower(), epochs)] == pytest.approx(float(value))


def test_reproduced_versus_published_matches_rows_and_marks_disagreements(tmp_path):
    changes = {("resnet56", "B", "clr", 72): [0.1, 0.3, 0.2],  # published +0.20: agrees
               ("resnet56", "B", "ft", 40): [-2.0, -2.1, -1.9],  # published -0.53: disagrees
               ("vgg16", "A", "lrw", 72): [1.0]}  # published 0.00, n=1: never marked
    for (model, variant, schedule, epochs), deltas in changes.items():
        for seed, delta in enumerate(deltas):
            write_record(tmp_path / f"{model}{schedule}{seed}", schedule, seed, 93.0 + delta, dataset="cifar10",
                         model=model, variant=variant, epochs=epochs, baseline=93.0)
    # Near misses that must not match: no variant, half width, CLR by the LRW rule, CIFAR-100, random.
    write_record(tmp_path / "m1", "clr", 0, 90.0, dataset="cifar10", model="resnet56", epochs=72)
    write_record(tmp_path / "m2", "clr", 0, 90.0, dataset="cifar10", model="resnet56", width=0.5, variant="B", epochs=72)
    write_record(tmp_path / "m3", "clr", 0, 90.0, dataset="cifar10", model="resnet56", variant="B", epochs=72, max_lr_rule="lrw")
    write_record(tmp_path / "m4", "clr", 0, 90.0, dataset="cifar100", model="resnet56", variant="B", epochs=72)
    write_record(tmp_path / "m5", "clr", 0, 90.0, dataset="cifar10", model="resnet56", variant="B", epochs=72, pruner="random")
    rows = published.reproduced_vs_published(tables.tidy(collect([tmp_path])))
    paper = published.load("cifar10_accuracy_change").set_index(["model", "variant", "schedule", "T"])["delta"]
    rows = rows.set_index(["model", "variant", "schedule", "T"]).loc[list(changes)].reset_index()
    assert len(rows) == len(changes)  # each group once, the near misses nowhere
    for row in rows.itertuples(index=False):
        deltas = changes[(row.model, row.variant, row.schedule, row.T)]
        assert row.n == len(deltas) and row.change == pytest.approx(statistics.mean(deltas))
        assert row.published == paper[(row.model, row.variant, row.schedule, row.T)]
        assert row.difference == pytest.approx(statistics.mean(deltas) - row.published)
    assert rows["disagrees"].tolist() == [False, True, False]
    assert rows["spread"].iloc[0] == pytest.approx(2 * statistics.stdev(changes[("resnet56", "B", "clr", 72)]))
    text = published.as_text(rows)
    assert text["difference"].iloc[1].endswith("!") and text["spread (2 sd)"].iloc[2] == "n=1: unknown"


def test_cli_writes_the_published_comparison_and_says_when_nothing_matches(sweep, tmp_path, capsys):
    assert tables.main([str(sweep), "--out", str(tmp_path / "r"), "--no-figures"]) == 0
    assert "no cell matches a published setting" in (tmp_path / "r" / "published.md").read_text()
    assert "no cell matches a published setting" in capsys.readouterr().out

def test_records_that_are_not_cells_are_skipped_not_fatal(tmp_path):
    write_record(tmp_path / "ok", "ft", 0, 80.0)
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "record.json").write_text("[1, 2]")
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "record.json").write_text("{\"identity\": ")
    (tmp_path / "anonymous").mkdir()
    (tmp_path / "anonymous" / "record.json").write_text(json.dumps({"status": "running"}))
    (tmp_path / "anonymous2").mkdir()
    (tmp_path / "anonymous2" / "record.json").write_text(json.dumps({"status": "failed"}))
    frame = collect([tmp_path])
    # Without a config a record cannot be placed in a table: skipped, and said so.
    assert len(frame) == 1 and sorted(frame["status"]) == ["finished"]
    assert len(frame.attrs["skipped"]) == 4


def _variants_of_a_real_folder(root: Path) -> dict:
    """Records as real folders hold them, beside one good record: what each must not break."""
    good = write_record(root / "good", "ft", 0, 80.0)
    partial = write_record(root / "partial", "clr", 0, 82.0)
    partial["metrics"] = {"test_top1": 82.0}  # finished, but cut short before its baseline accuracy
    older = write_record(root / "older", "lrw", 0, 81.0)
    for key in ("model", "budget_epochs", "steps_per_epoch", "seeds"):  # an older version's record
        older.pop(key)
    no_config = dict(good, identity={"cell": "cell-noconfig"})
    no_config.pop("config")
    bad = {
        "partial": partial, "older": older, "no_config": no_config,
        "foreign": {"name": "package.json", "version": "1.0"},
        "config_not_object": dict(good, config="dataset=cifar10"),
        "metrics_not_object": dict(good, metrics=[80.0]),
        "no_schedule": dict(good, config={k: v for k, v in good["config"].items() if k != "schedule"}),
        "text_accuracy": dict(good, metrics={"test_top1": "80.0", "baseline_test_top1": 90.0}),
        "status_number": dict(good, status=3),
    }
    for name, record in bad.items():
        (root / name).mkdir(exist_ok=True)
        (root / name / "record.json").write_text(json.dumps(record))
    (root / "torn").mkdir()
    (root / "torn" / "record.json").write_bytes(b"\xff\xfe{")
    return bad


def test_records_of_real_folders_are_skipped_by_name_and_never_raise(tmp_path, caplog):
    bad = _variants_of_a_real_folder(tmp_path / "runs")
    frame = collect([tmp_path / "runs"])
    skipped = frame.attrs["skipped"]
    assert sorted(Path(s.split(":")[0]).parent.name for s in skipped) == sorted(
        [n for n in bad if n != "older"] + ["torn"])
    assert sorted(frame["config.schedule.name"]) == ["ft", "lrw"]  # the good one, and the older one
    table = tables.comparison(tables.tidy(frame))
    assert table.iloc[0]["LRW"] == "**81.00 (n=1)**" and table.iloc[0]["params -%"] == "40.0"
    caplog.clear()
    assert tables.main([str(tmp_path / "runs"), "--out", str(tmp_path / "r")]) == 0
    err = caplog.text
    for name in [*bad, "torn"]:
        if name != "older":
            assert f"{tmp_path / 'runs' / name / 'record.json'}: " in err, name
    assert "no config" in err and "partial record" in err and "Traceback" not in err


def test_a_folder_of_only_unreadable_records_says_so(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "record.json").write_text(json.dumps({"status": "finished", "metrics": {}}))
    assert tables.main([str(tmp_path), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "2 record(s) found" in err and "none readable" in err and "no records found" not in err


def test_one_seed_prints_no_spread_and_no_interval(tmp_path):
    for schedule, acc in (("ft", 80.0), ("clr", 84.0)):
        write_record(tmp_path / schedule, schedule, 0, acc)
    row = tables.comparison(tables.tidy(collect([tmp_path]))).iloc[0]
    assert row["FT"] == "80.00 (n=1)" and row["CLR"] == "**84.00 (n=1)**"
    assert "±" not in "".join(map(str, row.values))
    assert row["CLR-FT"] == "+4.00", "one pair: the difference, never a significance mark"


def test_schedules_equal_in_every_seed_share_a_rank(tmp_path):
    for seed, (ft, clr) in enumerate([(70.0, 75.0), (71.0, 74.0)]):
        for schedule, acc in (("ft", ft), ("lrw", ft), ("clr", clr)):  # LRW computed exactly what FT did
            write_record(tmp_path / f"{schedule}{seed}", schedule, seed, acc)
    row = tables.comparison(tables.tidy(collect([tmp_path]))).iloc[0]
    assert row["order (seeds where it holds)"] == "CLR > FT = LRW (2/2 seeds)"


def _sparse(folder: Path, schedule: str, seed: int, acc: float, allocation: str, sparsity: float = 0.9) -> None:
    record = write_record(folder, schedule, seed, acc, pruner="mwp")
    record["config"]["pruner"] |= {"sparsity": sparsity, "allocation": allocation}
    record["identity"]["cell"] = f"cell-{allocation}-{sparsity}-{schedule}-{seed}"
    (folder / "record.json").write_text(json.dumps(record))


def test_pruners_are_compared_seed_paired_with_the_global_threshold_per_schedule_and_sparsity(tmp_path):
    from benchmark.report.pruners import pruner_comparison

    acc = {("global", "ft"): [70.0, 72.0], ("erk", "ft"): [71.0, 74.0], ("lamp", "ft"): [69.0, 71.5],
           ("global", "clr"): [75.0, 76.0], ("erk", "clr"): [74.0, 76.0]}
    for (allocation, schedule), values in acc.items():
        for seed, value in enumerate(values):
            _sparse(tmp_path / f"{allocation}-{schedule}-{seed}", schedule, seed, value, allocation)
    _sparse(tmp_path / "other-sparsity", "ft", 0, 10.0, "uniform", sparsity=0.5)  # alone at its sparsity: no row
    table = pruner_comparison(tables.tidy(collect([tmp_path])))
    rows = {(r["schedule"], r["pruner"]): r for _, r in table.iterrows()}
    assert set(rows) == {("ft", "mwp s0.9"), ("ft", "mwp s0.9 erk"), ("ft", "mwp s0.9 lamp"),
                         ("clr", "mwp s0.9"), ("clr", "mwp s0.9 erk")}
    assert all(r["reference"] == "mwp s0.9" for r in rows.values())
    assert rows[("ft", "mwp s0.9 erk")]["gain over reference"] == "+1.50*"  # +1 and +2: both above 0
    assert rows[("ft", "mwp s0.9 lamp")]["gain over reference"] == "-0.75*"
    assert rows[("clr", "mwp s0.9 erk")]["gain over reference"] == "-0.50"  # -1 and 0: the interval holds 0
    assert rows[("ft", "mwp s0.9")]["gain over reference"] == ""
    assert list(table["schedule"]) == ["ft"] * 3 + ["clr"] * 2  # schedules in the registry's order


def test_a_record_s_task_decides_its_metric_not_the_keys_it_happens_to_hold(tmp_path, caplog):
    """The headline metric is the task's (benchmark.tasks: text for dataset=text, image otherwise):
    an image record holding a stray perplexity is still an accuracy row, and a text record holding
    only accuracies is a partial record named by the metric its task reports."""
    image = write_record(tmp_path / "image", "ft", 0, 80.0)
    image["metrics"] |= {"test_ppl": 5.0, "baseline_test_ppl": 4.0}
    (tmp_path / "image" / "record.json").write_text(json.dumps(image))
    write_record(tmp_path / "text", "ft", 0, 80.0, dataset="text", model="causal_lm", pruner="wanda")
    frame = tables.tidy(collect([tmp_path]))
    assert list(frame["config.dataset.name"]) == ["synthetic"] and list(frame["metric"]) == ["test_top1"]
    assert list(frame["task"]) == ["image"]
    assert "text/record.json: finished, but without numeric metrics.test_ppl and metrics.baseline_test_ppl" in caplog.text
