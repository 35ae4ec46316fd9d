"""Sweep sub-folder names that always fit the filesystem.

Hydra names each sweep job's folder after its overrides (``override_dirname``); a cell
with a custom model and pruner easily passes the 255-byte limit of one path component.
The ``dirname`` resolver keeps short names as they are and cuts long ones to a readable
prefix plus a hash of the whole, so two long names never collide.
"""

from __future__ import annotations

import hashlib

from omegaconf import OmegaConf

LIMIT = 200  # bytes, leaving room for the job number in front


def short_dirname(name: str) -> str:
    """``name`` when it fits, else its first characters and 12 hex digits of its SHA-256."""
    if len(name.encode()) <= LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return name.encode()[: LIMIT - 13].decode(errors="ignore") + "-" + digest


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("dirname"):
        OmegaConf.register_new_resolver("dirname", short_dirname)
