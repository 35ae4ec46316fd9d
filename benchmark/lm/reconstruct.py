"""Local reconstruction as the retraining objective (``retrain.objective=reconstruct``).

PERP's reconstruct mode and "A Free Lunch in LLM Compression" (Zimmer et al.) retrain a pruned LM
block by block: each transformer block of the pruned model is fed the *dense* model's input to
that block and trained to reproduce the dense block's output, the mean squared error summed over
blocks. No gradient crosses from one block to the next (each block's input is the dense one, held
fixed), so the objective is local, and the next-token loss never enters. Everything else is the
suite's: the schedule axis sets the rate of every step, the regime (``retrain.params``) decides
which parameters train, the masks stay applied, validation and test report perplexity.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.lm.prune import blocks


def _hidden(output: Any) -> torch.Tensor:
    """A block's output hidden states (transformers' blocks return a tuple, hidden states first)."""
    return output[0] if isinstance(output, (tuple, list)) else output


class _Capture:
    """Hooks on a model's blocks: record each block's input and output hidden states, or feed each
    block a given input instead of the one the model computed."""

    def __init__(self, model: nn.Module, feed: Optional[List[torch.Tensor]] = None) -> None:
        self.inputs: List[torch.Tensor] = []
        self.outputs: List[torch.Tensor] = []
        self.handles = []
        for index, (_, block) in enumerate(blocks(model)):
            self.handles.append(block.register_forward_pre_hook(self._pre(index, feed), with_kwargs=True))
            self.handles.append(block.register_forward_hook(self._post()))

    def _pre(self, index: int, feed: Optional[List[torch.Tensor]]) -> Callable:
        def hook(module: nn.Module, args: Tuple, kwargs: Dict[str, Any]) -> Tuple[Tuple, Dict[str, Any]]:
            if feed is not None:  # the dense model's input to this block, in place of the pruned one's
                if args:
                    args = (feed[index],) + tuple(args[1:])
                else:
                    kwargs = {**kwargs, "hidden_states": feed[index]}
            self.inputs.append(args[0] if args else kwargs["hidden_states"])
            return args, kwargs
        return hook

    def _post(self) -> Callable:
        def hook(module: nn.Module, inputs: Tuple, output: Any) -> None:
            self.outputs.append(_hidden(output))
        return hook

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def reconstruction_loss(dense: nn.Module, pruned: Callable, pruned_model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean over blocks of the MSE between the pruned block's output, given the dense block's input,
    and the dense block's output, on ``batch``."""
    was = dense.training
    dense.eval()
    with torch.no_grad():
        target = _Capture(dense)
        try:
            dense(batch)
        finally:
            target.close()
    dense.train(was)
    fed = _Capture(pruned_model, feed=[x.detach() for x in target.inputs])
    try:
        pruned(batch)
    finally:
        fed.close()
    losses = [F.mse_loss(out.float(), want.detach().float()) for out, want in zip(fed.outputs, target.outputs)]
    return torch.stack(losses).mean()
