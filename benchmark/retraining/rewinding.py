"""Rewinding to the baseline: its recorded learning rates (exact LRW) and its weights (WR).

The baseline records the rate every iteration actually ran at, run-length encoded (a step
recipe is three runs, a per-iteration cosine one run per iteration), so ``schedule=lrw
schedule.source=recorded`` replays the last T epochs exactly, whatever produced them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from torch import nn

from benchmark import distributed, pruning
from benchmark.artefacts import atomic_save, load_checkpoint
from benchmark.errors import ConfigError


class LrTrace:
    """Per-iteration learning rates as ``[[lr, count], ...]`` runs: small for step recipes, exact for any."""

    def __init__(self, runs: Optional[Sequence[Sequence[float]]] = None) -> None:
        self.runs: List[List[float]] = [[float(lr), int(n)] for lr, n in (runs or [])]

    def add(self, lr: float) -> None:
        if self.runs and self.runs[-1][0] == lr:
            self.runs[-1][1] += 1
        else:
            self.runs.append([float(lr), 1])

    def __len__(self) -> int:
        return sum(int(n) for _, n in self.runs)

    def expand(self) -> List[float]:
        return [lr for lr, n in self.runs for _ in range(int(n))]


def recorded_tail(runs: Optional[Sequence[Sequence[float]]], epochs: int, steps_per_epoch: int,
                  baseline_epochs: int) -> List[float]:
    """The rates of the baseline's last T epochs, checked to be the same iteration grid as retraining."""
    if not runs:
        raise ConfigError("schedule.source=recorded needs a baseline that recorded its rates "
                          "(this cached baseline predates the recording; use schedule.source=recipe)")
    rates = LrTrace(runs).expand()
    if len(rates) != baseline_epochs * steps_per_epoch:
        raise ConfigError(f"the baseline recorded {len(rates)} iterations, not E x iterations per epoch = "
                          f"{baseline_epochs} x {steps_per_epoch}: its iterations do not align with retraining")
    return rates[len(rates) - epochs * steps_per_epoch:]


# --- Weight rewinding (Renda et al. 2020): the baseline's weights of epoch E - T -------------------


def snapshot_path(baseline_folder: Path, epoch: int) -> Path:
    """Where the baseline keeps its weights after ``epoch`` epochs (0: the initialisation)."""
    return baseline_folder / "rewind" / f"epoch{epoch:04d}.pt"


def snapshot_epochs(keep: Sequence[int], schedule_name: str, baseline_epochs: int, retrain_epochs: int) -> List[int]:
    """The epochs a baseline keeps: those a sweep names (``rewind_epochs``) plus this cell's E - T under wr.
    Snapshots are files beside the baseline, never part of its identity."""
    epochs = set(int(e) for e in keep)
    if schedule_name == "wr":
        epochs.add(baseline_epochs - retrain_epochs)
    bad = sorted(e for e in epochs if not 0 <= e <= baseline_epochs)
    if bad:
        raise ConfigError(f"rewind_epochs={bad} must lie in [0, recipe.epochs={baseline_epochs}]")
    return sorted(epochs)


def snapshotter(model: nn.Module, folder: Path, epochs: Sequence[int]) -> Callable[[Dict[str, float]], None]:
    """An ``on_epoch`` callback saving the weights after each kept epoch (and, now, the initial ones)."""
    keep = set(epochs)
    main = distributed.is_main()  # every rank trains the baseline; one writes
    if 0 in keep and not snapshot_path(folder, 0).exists():
        atomic_save({"state_dict": model.state_dict(), "epoch": 0}, snapshot_path(folder, 0), enabled=main)

    def save(row: Dict[str, float]) -> None:
        done = int(row["epoch"]) + 1
        if done in keep:
            atomic_save({"state_dict": model.state_dict(), "epoch": done}, snapshot_path(folder, done), enabled=main)

    return save


def rewind(model: nn.Module, dense: nn.Module, history: Dict[str, Any], baseline_folder: Path, epoch: int,
           image_size: int = 32) -> None:
    """Reset the pruned ``model``'s surviving weights (same filters, same masks) to the baseline's
    epoch-``epoch`` weights: the snapshot loaded into ``dense``, pruned by replaying ``history``."""
    saved = load_checkpoint(snapshot_path(baseline_folder, epoch))
    if saved is None:
        raise ConfigError(f"schedule=wr needs the baseline's epoch-{epoch} weights, which {baseline_folder.name} did not "
                          f"keep: list {epoch} in rewind_epochs when the baseline trains")
    dense.load_state_dict(saved["state_dict"])
    state = pruning.rebuild(dense, history, image_size).state_dict()
    for key, value in model.state_dict().items():
        if key.endswith("_mask"):  # unstructured: keep the pruned model's masks
            state[key] = value
    model.load_state_dict(state)
