"""The pruning criteria for one linear layer, written against the papers' definitions.

Each takes the weight W (out x in) and what calibration gave, and returns the keep-mask (and,
for SparseGPT, the updated weights). ``pattern`` is ``unstructured`` (``sparsity`` of the
comparison group removed) or ``N:M`` (N of every M consecutive inputs of a row kept; the
references' ``prune_n``/``prunen`` counts those pruned instead, the same for 2:4 and 4:8).

- magnitude: score |W_ij|, compared over the whole layer (the layer-wise magnitude baseline of
  Sun et al. 2024, Table 2).
- Wanda (Sun et al. 2024, Eq. 1): S_ij = |W_ij| * ||X_j||_2, the input feature's L2 norm over all
  calibration tokens, compared within each output row.
- SparseGPT (Frantar & Alistarh 2023, Algorithm 1): H = 2/n X^T X over the n calibration sequences
  (the reference's running mean, :class:`Hessian`) + lambda I (lambda = dampening x mean diag, after
  dead inputs' diagonal is set to 1), the upper Cholesky factor U of H^-1; columns in blocks of
  ``blocksize``; the mask of each block by the lowest w^2 / U_jj^2 over the block (N:M: per row and
  group), then column by column the pruned weight's error is spread over the later columns:
  W[:, j:] -= (w_j - q_j) / U_jj * U[j, j:].

How many are pruned, and ties. Every comparison group loses exactly ``int(size * sparsity)``
weights (Wanda: each row; magnitude: the layer; SparseGPT: each block of rows x ``blocksize``),
the lowest scores first, equal scores in index order (row-major for a layer or block), the earlier
index pruned first: the order of a stable ascending sort, which is what Wanda's reference uses, so
Wanda agrees with it mask for mask. The magnitude and SparseGPT references instead take the score
at sorted position ``int(size * sparsity)`` as a threshold and prune every score ``<=`` it: one
more than ``int(size * sparsity)``, plus every tie of the threshold. The suite keeps the exact
count: the sparsity a record states is the sparsity the layer has, the same for the three pruners,
and does not grow with ties (frequent in fp16/bf16 weights, and every weight of a dead input
column scores 0 in SparseGPT).

Written here rather than taken from ``llmcompressor``: that library pulls a large dependency tree
(vLLM-oriented, compressed-tensors, pinned transformers ranges) that is fragile offline and on CPU,
while the definitions are a few lines each and tested against hand computations and the
references' rules (tests/test_lm.py, tests/test_lm_pruners.py).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch

from benchmark.errors import ConfigError


def parse_pattern(pattern: str) -> Optional[Tuple[int, int]]:
    """None for unstructured, (N, M) for ``N:M``; a bad pattern is one line."""
    if pattern == "unstructured":
        return None
    n, sep, m = pattern.partition(":")
    if sep and n.isdigit() and m.isdigit() and 0 < int(n) < int(m):
        return int(n), int(m)
    raise ConfigError(f"pruner.pattern={pattern!r} is not unstructured or N:M with 0 < N < M (2:4, 4:8)")


def _lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Keep-mask dropping exactly the ``count`` lowest scores of each row; among equal scores the
    earlier index is dropped first (a stable ascending sort; ``topk`` guarantees no order for ties)."""
    keep = torch.ones_like(scores, dtype=torch.bool)
    if count > 0:
        order = torch.sort(scores, dim=1, stable=True).indices
        keep.scatter_(1, order[:, :count], False)
    return keep


def select(scores: torch.Tensor, sparsity: float, nm: Optional[Tuple[int, int]], per_row: bool) -> torch.Tensor:
    """The keep-mask of ``scores``: the lowest ``sparsity`` per row (or over the whole layer), or N of every M."""
    rows, cols = scores.shape
    if nm is not None:
        n, m = nm
        if cols % m:
            raise ConfigError(f"pruner.pattern={n}:{m} needs input widths divisible by {m}; a layer has {cols}")
        return _lowest(scores.reshape(-1, m), m - n).reshape(rows, cols)
    if per_row:
        return _lowest(scores, int(cols * sparsity))
    return _lowest(scores.reshape(1, -1), int(scores.numel() * sparsity)).reshape(rows, cols)


def magnitude_mask(weight: torch.Tensor, sparsity: float, nm: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """Exactly ``int(numel * sparsity)`` of the layer pruned, the smallest |W| (ties: the earlier
    row-major index); the reference prunes every |W| <= the value at that sorted position, one more
    plus its ties (module docstring)."""
    return select(weight.abs().float(), sparsity, nm, per_row=False)


def wanda_mask(weight: torch.Tensor, input_sq_norm: torch.Tensor, sparsity: float,
               nm: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """``input_sq_norm[j]`` = sum over calibration tokens of X_j^2 (its square root is ||X_j||_2; any
    positive scale of it, such as the reference's mean over samples, gives the same mask). Exactly
    ``int(cols * sparsity)`` per row, ties to the earlier index: the reference's rule."""
    return select(weight.abs().float() * input_sq_norm.float().sqrt()[None, :], sparsity, nm, per_row=True)


class Hessian:
    """SparseGPT's H for one layer, accumulated as the reference does: the running mean
    H = 2/n sum_t x_t x_t^T over the n calibration sequences seen so far, whatever the batches.

    ``samples`` is the number of sequences in the batch ``x`` came from (its tokens may arrive
    flattened, as OPT's fc1/fc2 see them). The scale leaves SparseGPT's result unchanged except
    through the dead inputs, whose diagonal is set to 1 before lambda = dampening x mean diag is
    taken: against a plain sum X^T X that 1 would weigh almost nothing."""

    def __init__(self) -> None:
        self.H: Optional[torch.Tensor] = None
        self.samples = 0

    def add(self, x: torch.Tensor, samples: int) -> None:
        x = x.detach().reshape(-1, x.shape[-1]).float()
        total = self.samples + samples
        if self.H is None:
            self.H = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float32, device=x.device)
        else:
            self.H.mul_(self.samples / total)
        x = x * math.sqrt(2.0 / total)
        self.H.addmm_(x.t(), x)
        self.samples = total


def dampen(hessian: torch.Tensor, dampening: float) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """(H + lambda I in float64, the dead inputs, lambda): dead inputs (diag 0, never active in
    calibration) get diag 1 first, then lambda = ``dampening`` x mean(diag H), as the reference."""
    H = hessian.detach().clone().double()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    lam = dampening * torch.mean(torch.diag(H))
    H.diagonal().add_(lam)
    return H, dead, lam.item()


def sparsegpt(weight: torch.Tensor, hessian: torch.Tensor, sparsity: float, nm: Optional[Tuple[int, int]] = None,
              dampening: float = 0.01, blocksize: int = 128) -> Tuple[torch.Tensor, torch.Tensor]:
    """(new weight, keep-mask): SparseGPT's masks and optimal reconstruction of the layer's output
    on the calibration inputs, with ``hessian`` = 2/n X^T X (in x in) as :class:`Hessian` gives it.
    Unstructured: exactly ``int(rows * width * sparsity)`` of each block pruned (ties: the earlier
    row-major index), where the reference prunes every score <= the one at that sorted position."""
    W = weight.detach().clone().float()
    H, dead, _ = dampen(hessian, dampening)
    W[:, dead] = 0.0  # inputs never active: their weights cannot matter
    cols = W.shape[1]
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True).float()
    keep = torch.ones_like(W, dtype=torch.bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1, U1 = W[:, i1:i2].clone(), U[i1:i2, i1:i2]
        err1 = torch.zeros_like(W1)
        d = torch.diag(U1)
        block_keep = torch.ones_like(W1, dtype=torch.bool)
        if nm is None:  # the reference's adaptive mask: the lowest w^2 / U_jj^2 over the whole block
            block_keep = select(W1**2 / d[None, :] ** 2, sparsity, None, per_row=False)
        for j in range(i2 - i1):
            if nm is not None and j % nm[1] == 0:  # each group of M columns: its mask from the current weights
                group = W1[:, j:j + nm[1]] ** 2 / d[None, j:j + nm[1]] ** 2
                block_keep[:, j:j + nm[1]] = _lowest(group, nm[1] - nm[0])
            w = W1[:, j]
            q = w * block_keep[:, j]
            err = (w - q) / d[j]
            W1[:, j:] -= err[:, None] * U1[j, j:][None, :]
            W1[:, j] = q
            err1[:, j] = err
        W[:, i1:i2], keep[:, i1:i2] = W1, block_keep
        W[:, i2:] -= err1 @ U[i1:i2, i2:]
    return (W * keep).to(weight.dtype), keep


def sparsity_of(keep: torch.Tensor) -> float:
    return 1.0 - keep.float().mean().item() if keep.numel() else math.nan
