"""Layer-wise allocation: how many weights each layer keeps under one overall sparsity.

Unstructured pruning decides two things: how many weights each layer keeps (the allocation)
and which ones (magnitude or random, ``unstructured.METHODS``). The allocation is settled here,
as whole numbers of kept weights per layer summing exactly to the requested total:

- ``global``: one magnitude threshold over all layers (Han et al. 2015); handled by
  ``torch.nn.utils.prune.global_unstructured`` itself, so today's MWP is unchanged;
- ``uniform``: every sparse layer keeps the same fraction, the layers held dense aside (the first
  conv, as Evci et al. 2020 keep it), that fraction set so the overall sparsity is the request;
- ``erk``: Erdős-Rényi-Kernel (Evci et al. 2020, RigL): density proportional to
  (sum of a layer's dimensions) / (product of them), scaled by one factor so the overall
  sparsity is the request; a layer that would exceed density 1 is kept dense and the factor
  solved again over the rest;
- ``lamp``: LAMP scores (Lee et al. 2021), u_i^2 / sum_{j >= i} u_j^2 over a layer's weights
  sorted by magnitude, under one global threshold; the score rises with magnitude inside a layer,
  so the count above the threshold is the whole decision.

Counts are taken over what a layer still keeps, so a second round (``pruner.rounds``) or a
gradual schedule prunes a share of the remaining weights; a layer never regains a weight.
"""

from __future__ import annotations

import math
from typing import Dict, List, Sequence

import torch

from benchmark.errors import ConfigError

ALLOCATIONS = ("global", "uniform", "erk", "lamp")


def erk_score(shape: Sequence[int]) -> float:
    """Evci et al.'s (sum of dimensions) / (product of dimensions) of one weight tensor:
    (n_in + n_out + k_h + k_w) / (n_in n_out k_h k_w) for a conv, (n_in + n_out) / (n_in n_out)
    for a linear layer (Erdős-Rényi)."""
    return sum(shape) / math.prod(shape)


def lamp_scores(weight: torch.Tensor) -> torch.Tensor:
    """LAMP score of every weight of one layer (Lee et al. 2021, eq. 2), in the weight's shape."""
    squared = weight.detach().flatten().double().pow(2)
    ordered, order = squared.sort()
    tail = ordered.flip(0).cumsum(0).flip(0)  # sum over j >= i of the sorted squares
    scores = torch.zeros_like(squared)
    scores[order] = torch.where(tail > 0, ordered / tail, torch.zeros_like(tail))
    return scores.view_as(weight)


def _largest_remainder(shares: Dict[str, float], caps: Dict[str, int], total: int) -> Dict[str, int]:
    """Whole counts of real ``shares`` summing to ``total``: floors, then one more to the largest
    fractional parts (never above a cap), so the overall count is exact."""
    counts = {name: min(caps[name], math.floor(share)) for name, share in shares.items()}
    missing = total - sum(counts.values())
    for name in sorted(shares, key=lambda n: (counts[n] - shares[n], n)):
        if missing <= 0:
            break
        if counts[name] < caps[name]:
            counts[name] += 1
            missing -= 1
    return counts


def unreachable(allocation: str, fixed: Dict[str, int], total: int) -> ConfigError:
    """The one-line error of a target the layers held whole already exceed."""
    return ConfigError(f"pruner.allocation={allocation} cannot reach the requested sparsity: the layers it keeps "
                       f"dense ({', '.join(sorted(fixed)) or 'none'}) hold {sum(fixed.values())} weights, "
                       f"the target keeps {total}")


def proportional(weights: Dict[str, float], caps: Dict[str, int], dense: Sequence[str], total: int,
                 allocation: str) -> Dict[str, int]:
    """Kept counts proportional to ``weights`` (one factor for every layer), layers in ``dense`` and
    layers the factor would push past their cap held at the cap, the factor solved again over
    the rest until none exceeds it (RigL's ERK loop; uniform is the case weights = caps)."""
    fixed = {name: caps[name] for name in dense}
    while True:
        free = [name for name in caps if name not in fixed]
        budget = total - sum(fixed.values())
        if budget < 0 or (budget > 0 and not free):
            raise unreachable(allocation, fixed, total)
        factor = budget / sum(weights[name] for name in free) if free else 0.0
        over = [name for name in free if factor * weights[name] > caps[name]]
        if not over:
            break
        fixed.update({name: caps[name] for name in over})
    shares = {name: factor * weights[name] for name in free}
    return fixed | _largest_remainder(shares, {name: caps[name] for name in free}, budget)


def lamp_counts(masked: Dict[str, torch.Tensor], kept: Dict[str, int], total: int) -> Dict[str, int]:
    """Kept counts under one global threshold on the LAMP scores of the weights still kept."""
    scores = []
    for name, weight in masked.items():
        layer = lamp_scores(weight).flatten()
        scores.append(torch.where(weight.flatten() != 0, layer, torch.full_like(layer, -1.0)))
    flat = torch.cat(scores)
    owner = torch.cat([torch.full((w.numel(),), i) for i, w in enumerate(masked.values())])
    top = flat.topk(total).indices if total > 0 else torch.zeros(0, dtype=torch.long)
    counts = torch.bincount(owner[top], minlength=len(masked)).tolist()
    return {name: min(int(c), kept[name]) for name, c in zip(masked, counts)}


def kept_counts(allocation: str, masked: Dict[str, torch.Tensor], kept: Dict[str, int], dense: List[str],
                total: int) -> Dict[str, int]:
    """How many weights each layer keeps, summing to ``total``. ``masked``: each layer's weight
    with pruned entries zero; ``kept``: its nonzero-mask count; ``dense``: layers held whole."""
    if allocation == "uniform":
        return proportional({n: float(k) for n, k in kept.items()}, kept, dense, total, allocation)
    if allocation == "erk":
        return proportional({n: erk_score(w.shape) * w.numel() for n, w in masked.items()}, kept, dense, total,
                            allocation)
    if allocation == "lamp":
        held = sum(kept[name] for name in dense)
        if held > total:
            raise unreachable(allocation, {name: kept[name] for name in dense}, total)
        sparse = {name: w for name, w in masked.items() if name not in dense}
        return {name: kept[name] for name in dense} | lamp_counts(sparse, kept, total - held)
    raise ConfigError(f"pruner.allocation={allocation!r} is not one of: {', '.join(ALLOCATIONS)}")
