"""Parameter and multiply-accumulate counts, the units of the paper's tables.

FLOPs in the paper are multiply-accumulates (MACs) of convolutions and linear layers
for one image; ``torch.utils.flop_counter`` counts 2 FLOPs per MAC for exactly those
ops (and nothing for BN, ReLU or pooling), so MACs = counted FLOPs / 2. Attention's two
matrix products count too: the fused CPU kernel of ``scaled_dot_product_attention`` has
no FLOP formula, so counting runs attention through its math backend (plain matmuls).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Parameters that remain: removed filters are gone, and weights zeroed by a
    ``torch.nn.utils.prune`` mask (a ``*_mask`` buffer) are not counted."""
    total = sum(p.numel() for p in model.parameters())
    masked = sum(int((b == 0).sum()) for name, b in model.named_buffers() if name.endswith("_mask"))
    return int(total - masked)


def count_macs(model: nn.Module, image_size: int = 32, channels: int = 3) -> int:
    """Multiply-accumulates of one forward pass on one image, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, channels, image_size, image_size, device=device))
    model.train(was_training)
    return counter.get_total_flops() // 2
