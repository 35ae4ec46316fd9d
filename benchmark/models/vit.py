"""A small vision transformer for 32x32 images: timm's VisionTransformer, configured as data.

Patch 4 turns a CIFAR image into 8 x 8 = 64 tokens plus a class token; ``conf/model/vit.yaml``
holds the rest (embedding width, depth, heads, MLP ratio). Structured pruning removes whole
attention heads (all of a head's q, k and v rows and its columns of the output projection)
and MLP hidden units, through Torch-Pruning's dependency graph; timm's attention reshapes by
its ``num_heads`` and ``attn_dim`` attributes, so :meth:`CifarViT.sync_heads` re-derives them
from the pruned weights after surgery and after a pruned model is rebuilt from its history.
"""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

from benchmark.errors import ConfigError
from benchmark.models.schema import ViTConf


class CifarViT(nn.Module):
    """timm's VisionTransformer (as ``net``) with the hooks the pruners need."""

    def __init__(self, cfg: ViTConf, num_classes: int) -> None:
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        embed_dim = cfg.num_heads * max(1, int(round(cfg.embed_dim * cfg.width / cfg.num_heads)))
        if 32 % cfg.patch_size:
            raise ConfigError(f"model.patch_size={cfg.patch_size} does not divide the 32-pixel image")
        self.net = VisionTransformer(img_size=32, patch_size=cfg.patch_size, num_classes=num_classes,
                                     embed_dim=embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
                                     mlp_ratio=cfg.mlp_ratio, drop_path_rate=cfg.drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def attention_heads(self) -> Dict[nn.Linear, int]:
        """Each block's qkv projection and its number of heads (Torch-Pruning's ``num_heads``)."""
        return {block.attn.qkv: block.attn.num_heads for block in self.net.blocks}

    def mlp_hidden(self) -> List[nn.Linear]:
        """Each block's first MLP layer, whose output units are the MLP width."""
        return [block.mlp.fc1 for block in self.net.blocks]

    def residual_writers(self) -> List[nn.Module]:
        """The layers that write the residual stream (patch embedding, attention and MLP
        outputs): structured pruning keeps the embedding width, as PFEC keeps a ResNet's."""
        return [self.net.patch_embed.proj] + [m for b in self.net.blocks for m in (b.attn.proj, b.mlp.fc2)]

    def sync_heads(self) -> None:
        """Re-derive each attention's head count and width from its (pruned) qkv weights."""
        for block in self.net.blocks:
            attn = block.attn
            attn.attn_dim = attn.qkv.out_features // 3
            attn.num_heads = attn.attn_dim // attn.head_dim

    def weight_pruning_layers(self) -> List[str]:
        """What weight pruning masks: every linear layer of the blocks and the patch embedding,
        the transformer's counterpart of a CNN's convs (the classifier is left whole, as it is
        in the CNNs)."""
        return ["net.patch_embed.proj"] + [f"net.blocks.{i}.{name}" for i, block in enumerate(self.net.blocks)
                                            for name, m in block.named_modules() if isinstance(m, nn.Linear)]
