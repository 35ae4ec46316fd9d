"""The regime a findings page's claims were tested in: did the baselines finish training, and
how do the effect sizes compare with the paper's at the same relative budget?

- :func:`baseline_views`: one entry per distinct dense baseline (its seed, training curve as an
  inline SVG figure, the convergence figures and verdict of :mod:`benchmark.retraining.convergence`, as the
  record carries them).
- :func:`regime_note`: what a claim's row says beside its verdict when any of its baselines is
  not converged (or its records predate the verdict).
- :func:`paper_rows`: the suite's seed-paired gain over FT beside the paper's at the same T / E
  (the paper's E = 160: 25% is its T = 40; 50% falls between its T = 72 and 88, both shown).
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import pandas as pd
from matplotlib.figure import Figure

from benchmark.report.claims import published_gains

CONVERGED = "baseline.convergence.converged"
PAPER_E = 160
PAPER_TS = (40, 56, 72, 88, 104, 120, 136, 152)
NETWORKS = {("resnet56", "B"): "ResNet-56-B", ("resnet110", "B"): "ResNet-110-B", ("vgg16", "A"): "VGG-16-A"}


def _converged(value: Any) -> bool | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else bool(value)


def regime_note(cells: pd.DataFrame) -> str:
    """Empty when every distinct baseline of ``cells`` is converged; else says how many are not."""
    if cells is None or not len(cells):
        return ""
    per_baseline = cells.drop_duplicates("identity.baseline")
    verdicts = [_converged(v) for v in per_baseline[CONVERGED]] if CONVERGED in per_baseline else [None] * len(per_baseline)
    unknown = sum(v is None for v in verdicts)
    not_converged = sum(v is False for v in verdicts)
    n = len(verdicts)
    if unknown == n:
        return "baselines' convergence not recorded"
    if not_converged or unknown:
        parts = [f"{not_converged} of {n} not converged"] if not_converged else []
        parts += [f"{unknown} of {n} not recorded"] if unknown else []
        return "tested on unconverged baselines (" + ", ".join(parts) + ")"
    return ""


def curve_figure(curve: Sequence[Dict[str, float]], title: str) -> Figure:
    """Training accuracy (and validation accuracy where recorded) and training loss per epoch."""
    fig = Figure(figsize=(4.2, 2.6))
    ax = fig.add_subplot()
    epochs = [row["epoch"] + 1 for row in curve]
    ax.plot(epochs, [row.get("train_top1") for row in curve], color="C0", label="train top-1")
    if any("val_top1" in row for row in curve):
        ax.plot(epochs, [row.get("val_top1") for row in curve], color="C2", label="validation top-1")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 (%)")
    loss = ax.twinx()
    loss.plot(epochs, [row.get("train_loss") for row in curve], color="C3", linestyle="--", label="train loss")
    loss.set_ylabel("train loss")
    lines = ax.get_lines() + loss.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="center right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def baseline_views(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    """One entry per distinct baseline, in baseline-seed order: seed, identity, the first record
    that holds it (path), the curve and the convergence verdict (None when not recorded)."""
    if "identity.baseline" not in frame or not len(frame):
        return []
    rows = []
    ordered = frame.sort_values(["seeds.baseline", "identity.baseline", "path"], kind="stable")
    for identity, part in ordered.groupby("identity.baseline", sort=False):
        first = part.iloc[0]
        curve = first.get("baseline.curve")
        verdict = {k.split(".", 2)[2]: first[k] for k in part if k.startswith("baseline.convergence.")}
        rows.append({"identity": identity, "seed": first.get("seeds.baseline"), "path": first["path"],
                     "curve": curve if isinstance(curve, list) else [],
                     "convergence": verdict or None, "dataset": first.get("dataset"), "model": first.get("model")})
    return rows


def _paper_ts(fraction: float) -> List[int]:
    """The paper's budgets at ``fraction`` of its E: the matching one, else the two neighbours."""
    target = fraction * PAPER_E
    if any(abs(t - target) < 1e-9 for t in PAPER_TS):
        return [int(round(target))]
    below = [t for t in PAPER_TS if t < target]
    above = [t for t in PAPER_TS if t > target]
    return ([below[-1]] if below else []) + ([above[0]] if above else [])


def paper_gains(schedule: str, fraction: float) -> List[Dict[str, Any]]:
    """The paper's gain of ``schedule`` over FT (points, L1-pruned CIFAR-10 networks) at the
    budgets matching ``fraction`` of E: one entry per network and budget."""
    gaps = published_gains(schedule).set_index(["model", "variant", "T"])["gap"]
    return [{"network": name, "T": t, "gain": round(float(gaps[(model, variant, t)]), 2)}
            for (model, variant), name in NETWORKS.items() for t in _paper_ts(fraction) if (model, variant, t) in gaps.index]


def paper_rows(schedule_rows: Sequence[Any], epochs: Dict[str, int]) -> List[Dict[str, Any]]:
    """For each of claim 1's comparisons (an arm against FT in one setting), the paper's gain at the
    same T / E beside the suite's mean advantage and interval. ``epochs`` maps a setting's model
    label to its E (the recipe's epochs)."""
    rows = []
    for row in schedule_rows:
        schedule = row.arm.rsplit("+ ", 1)[-1].lower()
        e = epochs.get(str(row.setting["model"]))
        if not e or row.n == 0:
            continue
        fraction = float(row.setting["T"]) / e
        gains = paper_gains(schedule, fraction)
        advantage = float(row.pairs["advantage"].mean())
        interval = row.interval
        here = f"{advantage:+.2f}" + ("" if interval is None else f" [{interval[0]:+.2f}, {interval[1]:+.2f}]")
        paper = "; ".join(f"{g['network']} {g['gain']:+.2f} (T={g['T']})" for g in gains)
        rows.append({"anchor": row.anchor, "pruner": row.setting["pruner"], "schedule": schedule.upper(),
                     "T": row.setting["T"], "E": e, "fraction": fraction, "paper": paper, "gains": gains,
                     "here": here, "text": f"paper: {paper or 'no matching budget'}; here: {here}"})
    return rows
