"""What a language-model cell's identities hash beyond the config: the content of the weights and
of the corpus files. The config's leaves enter by the suite's one rule (:mod:`benchmark.identity`)."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from benchmark.lm.models import weights_fingerprint
from benchmark.sources import sha256_file


def fingerprints(cfg: Any) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(baseline extras, pruned extras): pretrained weights by commit or file hash, corpus files by
    SHA-256 (their paths are hashed too, as config leaves); the LM pruners name no files."""
    found = weights_fingerprint(cfg.model)
    if cfg.dataset.source == "files":
        given = {split: getattr(cfg.dataset.files, split) for split in ("test", "train", "validation")}
        found["corpus"] = {split: [sha256_file(f, f"dataset.files.{split}") for f in files]
                           for split, files in given.items() if files}
    return found, {}


def unresolved(cfg: Any) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Plan mode for weights not on this machine: the name stands in for their content."""
    return ({"weights": {"unresolved": cfg.model.name}} if cfg.model.pretrained else {}), {}
