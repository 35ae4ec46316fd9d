"""What a causal language model is trained on and scored by: the next-token loss and perplexity."""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Callable, ContextManager, Dict

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.lm.corpus import BlockLoader


def token_loss(model: Callable, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of a batch of blocks (token t+1 from tokens <= t)."""
    logits = model(batch).logits[:, :-1].float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


@torch.no_grad()
def perplexity(model: nn.Module, loader: BlockLoader, autocast: Callable[[], ContextManager] = nullcontext
               ) -> Dict[str, float]:
    """exp of the mean next-token negative log-likelihood over every predicted token of the split;
    the forward runs in ``autocast`` (the cell's precision), the loss in fp32 (:func:`token_loss`)."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in loader.epoch(0):
        n = batch[:, 1:].numel()
        with autocast():
            loss = token_loss(model, batch)
        total += loss.item() * n
        count += n
    model.train(was)
    loss = total / count
    return {"loss": loss, "ppl": math.exp(loss) if loss < 700 else math.inf}
