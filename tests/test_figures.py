"""The figures: files that open, and plotted data that is the suite's own numbers."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from benchmark.report import figures, tables
from benchmark.report.collect import collect
from benchmark.retraining.schedules import lr_momentum
from tests.conftest import compose_config
from tests.test_tables import write_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_figure_files(paths, out: Path, stem: str) -> None:
    png, pdf = out / f"{stem}.png", out / f"{stem}.pdf"
    assert png in paths and pdf in paths
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000


def test_lr_figure_plots_exactly_what_the_schedule_code_returns():
    epochs, steps = 6, 5
    fig, lines = figures.lr_schedules(epochs, steps)
    recipe, confs = figures.schema.RecipeConf(), figures.default_schedules()
    assert set(lines["lr"]) == {"ft", "lrw", "slr", "clr"}
    for name, conf in confs.items():
        expected = np.array([lr_momentum(s, steps, epochs, conf, recipe) for s in range(epochs * steps)])
        line, momentum = lines["lr"][name], lines["momentum"][name]
        np.testing.assert_array_equal(line.get_xdata(), np.arange(epochs * steps) / steps)
        np.testing.assert_array_equal(line.get_ydata(), expected[:, 0])
        np.testing.assert_array_equal(momentum.get_ydata(), expected[:, 1])
    assert fig.axes[0].get_yscale() == "log"


def test_lr_figure_from_the_composed_config_and_skips_what_cannot_run():
    cfg = compose_config(["schedule=clr_lrw", "budget.epochs=40"])
    fig, lines = figures.lr_schedules(40, 3, cfg.recipe, {"clr_lrw": cfg.schedule})
    expected = [lr_momentum(s, 3, 40, cfg.schedule, cfg.recipe)[0] for s in range(120)]
    np.testing.assert_array_equal(lines["lr"]["clr_lrw"].get_ydata(), expected)
    # LRW cannot rewind T = 200 > E = 160 epochs: no line rather than a wrong one.
    _, lines = figures.lr_schedules(200, 1)
    assert "lrw" not in lines["lr"] and {"ft", "slr", "clr"} <= set(lines["lr"])


CHANGES = {("clr", 10): [0.5, 0.7, 0.6], ("clr", 20): [1.0, 1.4], ("ft", 10): [-1.0, -0.8, -0.9], ("ft", 20): [-0.5]}


@pytest.fixture
def budgets(tmp_path):
    for (schedule, epochs), deltas in CHANGES.items():
        for seed, delta in enumerate(deltas):
            write_record(tmp_path / "runs" / f"{schedule}{epochs}{seed}", schedule, seed, 90.0 + delta, epochs=epochs)
    return tmp_path / "runs"


def test_accuracy_change_figure_plots_mean_and_sd_over_seeds_per_budget(budgets):
    fig = figures.accuracy_change(tables.tidy(collect([budgets])))
    (ax,) = [a for a in fig.axes if a.get_visible()]
    bars = {c.get_label().split()[0]: c for c in ax.containers}
    assert set(bars) == {"FT", "CLR"} and "n=2-3" in bars["CLR"].get_label() and "n=1-3" in bars["FT"].get_label()
    for schedule in ("ft", "clr"):
        x, y = bars[schedule.upper()].lines[0].get_data()
        assert list(x) == [10, 20]
        np.testing.assert_allclose(y, [statistics.mean(CHANGES[(schedule, t)]) for t in (10, 20)])
    # The error bar of CLR at T=20 spans mean +- sd (two seeds).
    segments = bars["CLR"].lines[2][0].get_segments()
    sd = statistics.stdev(CHANGES[("clr", 20)])
    assert segments[1][1][1] - segments[1][0][1] == pytest.approx(2 * sd)


def test_published_curves_are_drawn_where_the_paper_has_them(tmp_path):
    for seed, delta in enumerate([0.1, 0.3]):
        for epochs in (40, 72):
            write_record(tmp_path / f"{seed}-{epochs}", "clr", seed, 93.0 + delta, dataset="cifar10", model="resnet56",
                         variant="B", epochs=epochs, baseline=93.0)
    fig = figures.accuracy_change(tables.tidy(collect([tmp_path])))
    ax = fig.axes[0]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--" and len(line.get_xdata())]
    assert len(dashed) == 4 and all(list(line.get_xdata()) == list(range(40, 153, 16)) for line in dashed)


def test_sparsity_figure_needs_recorded_sparsity(budgets, tmp_path):
    frame = tables.tidy(collect([budgets]))
    assert figures.accuracy_vs_sparsity(frame) is not None
    assert figures.accuracy_vs_sparsity(frame.assign(**{"model.sparsity": None})) is None


def test_cli_writes_every_figure_as_png_and_pdf(budgets, tmp_path, capsys):
    out = tmp_path / "results"
    assert tables.main([str(budgets), "--out", str(out), "--lr-budget", "12"]) == 0
    written = [Path(p) for p in capsys.readouterr().out.split("wrote ", 1)[1].strip().split(", ")]
    for stem in ("accuracy_change", "accuracy_vs_sparsity", "lr_schedules"):
        assert_figure_files(written, out, stem)


def test_the_lr_figure_of_a_sweep_uses_the_configs_it_ran(tmp_path):
    write_record(tmp_path / "a", "clr", 0, 80.0, pct_start=0.3, max_lr_rule="recipe")
    write_record(tmp_path / "b", "slr", 0, 80.0, warmup_fraction=0.2, drop_fractions=None)
    recipe, confs, steps = figures.schedules_of(tables.tidy(collect([tmp_path])))
    assert (recipe.epochs, recipe.milestones, steps) == (16, [8, 12], 4)  # the record's, not the defaults
    assert confs["clr"].pct_start == 0.3 and confs["slr"].warmup_fraction == 0.2 and confs["slr"].drop_fractions is None
    assert confs["clr"].div_factor == figures.schema.CLRScheduleConf().div_factor  # absent: the schema default


def test_one_budget_shows_schedules_side_by_side_and_one_seed_draws_no_bar(tmp_path):
    for schedule, deltas in (("ft", [-1.0, -0.6, -0.8]), ("clr", [0.5])):
        for seed, delta in enumerate(deltas):
            write_record(tmp_path / f"{schedule}{seed}", schedule, seed, 90.0 + delta, epochs=10)
    fig = figures.accuracy_change(tables.tidy(collect([tmp_path])))
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["FT", "CLR"]
    assert ax.get_xlim() == (-0.5, 1.5), "schedules on the axis, not T = 10 +- a fraction"
    bars = {c.get_label().split()[0]: c for c in ax.containers}
    assert bars["FT"].lines[0].get_data()[1][0] == pytest.approx(-0.8)
    (ft_bar,) = bars["FT"].lines[2]
    low, high = ft_bar.get_segments()[0][:, 1]
    assert high - low == pytest.approx(2 * statistics.stdev([-1.0, -0.6, -0.8]))
    clr_segments = [seg for coll in bars["CLR"].lines[2] for seg in coll.get_segments()]
    assert all(np.size(seg) == 0 or np.isnan(seg).any() for seg in clr_segments), "n=1: no error bar"
    assert "n=1" in bars["CLR"].get_label()
    seeds = [line for line in ax.lines if line.get_marker() == "." and len(line.get_xdata()) == 3]
    assert len(seeds) == 1 and sorted(seeds[0].get_ydata()) == pytest.approx([-1.0, -0.8, -0.6])


def test_the_same_records_give_byte_identical_figure_files(tmp_path, monkeypatch):
    """Regenerating results/ from unchanged records must not show every PDF as changed."""
    for seed, acc in enumerate([80.0, 81.0]):
        write_record(tmp_path / "runs" / f"ft{seed}", "ft", seed, acc)
        write_record(tmp_path / "runs" / f"clr{seed}", "clr", seed, acc + 3)
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")  # matplotlib dates a PDF by it when it dates one
    tables.main([str(tmp_path / "runs"), "--out", str(first)])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "2000000000")  # a later clock
    tables.main([str(tmp_path / "runs"), "--out", str(second)])
    figures_made = sorted(p.name for p in first.iterdir() if p.suffix in (".png", ".pdf"))
    assert figures_made
    for name in figures_made:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
