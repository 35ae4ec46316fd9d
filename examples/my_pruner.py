"""A custom pruner in a few lines: network slimming (|BN gamma|) channel pruning, then
optional magnitude masks. ``pruner=custom pruner.function=examples.my_pruner:slim``.

It uses the suite's graph pruner (any model, residual streams and the classifier
protected); a pruner may just as well call Torch-Pruning or resize layers itself.
"""

import torch
import torch_pruning as tp
from torch.nn.utils import prune

from benchmark.pruning.graph import prune_graph


def slim(model, example_inputs, batches, *, seed, ratio=0.4, mask=0.0):
    """Remove ``ratio`` of each group's channels by |BN gamma|; then mask ``mask`` of every conv's weights."""
    prune_graph(model, importance=tp.importance.BNScaleImportance(), ratio=ratio, example_inputs=example_inputs)
    for module in model.modules():
        if mask > 0 and isinstance(module, torch.nn.Conv2d):
            prune.l1_unstructured(module, "weight", amount=mask)
