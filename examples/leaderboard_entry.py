"""A worked leaderboard entry: filters scored by their L1 norm times their BN's |gamma|.

PFEC's L1 ignores the BN that scales a filter's output; network slimming's |gamma| ignores the
filter. This criterion multiplies the two, so a filter survives when it is both large and used.
Enter it with (docs/leaderboard.md)::

    python -m benchmark.launch.submit pruner=custom pruner.function=examples.leaderboard_entry:l1_times_gamma \
        dataset.root=<folder with cifar-10-batches-py>

The pruning goes through the suite's graph pruner at one uniform ratio per group, the leaderboard's
rule: on ResNet-20, ``ratio=0.5`` is the ratio the built-in criteria reach the 50% FLOPs target with
(``submit`` refuses the entry, before training, if it misses the target by more than a point). It
reads no data, so it cannot touch the test set.
"""

import torch
import torch_pruning as tp

from benchmark.pruning.graph import prune_graph


class L1TimesGamma:
    """A Torch-Pruning importance: per channel of a group, ||filter||_1 x |gamma| (either alone where
    the group lacks the other)."""

    def __call__(self, group):
        channels = len(group[0].idxs)  # the root: every channel of the layer the group is pruned from
        score = torch.ones(channels)
        for i, (dep, idxs) in enumerate(group):
            layer, fn = dep.layer, dep.pruning_fn
            if fn == tp.function.prune_conv_out_channels:
                local = layer.weight.detach()[idxs].abs().flatten(1).sum(1)
            elif fn == tp.function.prune_batchnorm_out_channels and layer.affine:
                local = layer.weight.detach()[idxs].abs()
            else:
                continue
            factor = torch.ones(channels)
            factor[torch.as_tensor(group[i].root_idxs)] = local.float().cpu()
            score = score * factor
        return score


def l1_times_gamma(model, example_inputs, batches, *, seed, ratio=0.5):
    """Remove ``ratio`` of every prunable group's channels, those with the lowest ||W||_1 x |gamma|."""
    prune_graph(model, importance=L1TimesGamma(), ratio=ratio, example_inputs=example_inputs, seed=seed)
