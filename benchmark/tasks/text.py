"""Causal language modelling: the task of ``dataset=text`` (the domain code is :mod:`benchmark.lm`)."""

from __future__ import annotations

from typing import Any

from benchmark.lm.models import weights_fingerprint
from benchmark.sources import sha256_file
from benchmark.tasks import Fingerprints


class TextTask:
    name = "text"
    metric = "test_ppl"

    def fingerprints(self, cfg: Any) -> Fingerprints:
        """Pretrained weights by commit or file hash, corpus files by SHA-256 (their paths are hashed
        too, as config leaves); the language-model pruners name no files."""
        found = weights_fingerprint(cfg.model)
        if cfg.dataset.source == "files":
            given = {split: getattr(cfg.dataset.files, split) for split in ("test", "train", "validation")}
            found["corpus"] = {split: [sha256_file(f, f"dataset.files.{split}") for f in files]
                               for split, files in given.items() if files}
        return found, {}

    def plan_fingerprints(self, cfg: Any) -> Fingerprints:
        """Plan mode for weights not on this machine: the name stands in for their content."""
        return ({"weights": {"unresolved": cfg.model.name}} if cfg.model.pretrained else {}), {}

    def precision(self, cfg: Any) -> str:
        """fp32: the language-model loop has no autocast (it refuses precision=bf16)."""
        return "fp32"


TEXT = TextTask()
