"""Which number the report compares, and which way is better: the one place a direction lives.

Every delta and verdict of the findings report is an *advantage*: how much better one arm is
than another on the metric, positive when it is better. Test top-1 is better higher, so the
advantage of CLR over FT is CLR - FT; perplexity (the language-model cells) is better lower,
so it is FT - CLR. Computing the sign anywhere else would let one table flip and another not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import pandas as pd


@dataclass(frozen=True)
class Metric:
    """A final metric of the records, with its dense-baseline and before-retraining columns."""

    name: str  # as the report prints it
    column: str  # the collected frame's column of the retrained cell's value
    baseline_column: str  # the dense (unpruned) network's value
    pruned_column: str  # the pruned network's value before any retraining
    higher_is_better: bool = True
    title: str = ""  # the comparison table's caption (make tables)
    keys: tuple = ()  # row keys of the comparison table beyond tables.KEYS (the LM regime)

    @property
    def key(self) -> str:
        """The record's own name for it: ``test_top1``, ``test_ppl``."""
        return self.column.removeprefix("metrics.")

    @property
    def sign(self) -> int:
        return 1 if self.higher_is_better else -1

    def advantage(self, arm: pd.Series | float, reference: pd.Series | float) -> pd.Series | float:
        """How much better ``arm`` is than ``reference`` (positive: better), elementwise."""
        return self.sign * (arm - reference)

    @property
    def better(self) -> str:
        return "higher" if self.higher_is_better else "lower"


TOP1 = Metric("test top-1 (%)", "metrics.test_top1", "metrics.baseline_test_top1", "metrics.pruned_test_top1",
              title="Final test top-1 (%) after retraining, by schedule")
# The language-model cells (benchmark/lm) record perplexity under these names (lower is better);
# their rows also split by the retraining regime (retrain.params).
PERPLEXITY = Metric("test perplexity", "metrics.test_ppl", "metrics.baseline_test_ppl", "metrics.pruned_test_ppl",
                    higher_is_better=False, title="Final test perplexity after retraining, by schedule (lower is better)",
                    keys=("regime",))
METRICS: Dict[str, Metric] = {"top1": TOP1, "perplexity": PERPLEXITY}
