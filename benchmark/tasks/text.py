"""Causal language modelling: the task of ``dataset=text`` (the domain code is :mod:`benchmark.lm`).

The pruned stage keeps the dense architecture and a mask per pruned layer; a pretrained dense
model is not copied into the cache (its record is, and the weights are read again from their
content-hashed source).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import nn

from benchmark import distributed
from benchmark.device import seed_everything
from benchmark.fastpath import autocast_for
from benchmark.lm import regimes
from benchmark.lm.corpus import BlockLoader, TokenSplits, floor, load_tokens, vocab_size
from benchmark.lm.models import build_lm, weights_fingerprint
from benchmark.lm.objective import perplexity, token_loss
from benchmark.lm.prune import apply_masks, layer_sparsity, prunable, prune_lm
from benchmark.lm.reconstruct import reconstruction_loss
from benchmark.schema import BenchmarkConf
from benchmark.sources import sha256_file
from benchmark.tasks import RECIPE_UNREAD, Fingerprints, Unread, device_precision, refuse_ignored, refuse_unread
from benchmark.tasks import text_checks as checks, text_cost as cost

EVAL_BATCH = 32


@dataclass
class LMData:
    """The token blocks and loaders of a cell (the shape of :class:`benchmark.data.Data`)."""

    splits: TokenSplits
    block_size: int
    batch_size: int
    device: torch.device
    evals: Dict[str, BlockLoader] = field(default_factory=dict)

    def train(self, seed: int) -> BlockLoader:
        return BlockLoader(self.splits.blocks("train", self.block_size), self.batch_size, self.device, seed)


def open_lm_data(cfg: BenchmarkConf, device: torch.device) -> LMData:
    splits = load_tokens(cfg.dataset, cfg.model.name if cfg.model.pretrained else None)
    data = LMData(splits, cfg.dataset.block_size, cfg.recipe.batch_size, device)
    for split, name in (("test", "test"), ("validation", "val")):
        if len(splits.streams[split]) >= cfg.dataset.block_size:
            data.evals[name] = BlockLoader(splits.blocks(split, cfg.dataset.block_size), EVAL_BATCH, device, None)
    return data


def dense_lm(cfg: BenchmarkConf, device: torch.device, seed: Optional[int] = None) -> nn.Module:
    """The unpruned network, initialised from ``seed`` (the baseline seed unless given; or pretrained)."""
    seed_everything(cfg.seed.baseline if seed is None else seed)
    return build_lm(cfg.model, vocab_size(cfg.dataset), device)


def evaluate_splits(model: nn.Module, evals: Dict[str, BlockLoader], fast: bool, requested: str) -> Dict[str, float]:
    """Perplexity on every split, in the precision training uses (the image task evaluates so too)."""
    return {f"{split}_ppl": perplexity(model, loader, autocast_for(loader.device, fast, requested))["ppl"]
            for split, loader in evals.items()}


def counts(model: nn.Module, masks: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """Parameters left (pruned weights excluded) and the sparsity of the pruned layers."""
    total = sum(p.numel() for p in model.parameters())
    removed = sum(int((~keep).sum()) for keep in masks.values())
    linear = sum(m.weight.numel() for m in prunable(model).values())
    return {"params": total - removed, "prunable_params": linear,
            "sparsity_layers": layer_sparsity(model, masks) if masks else 0.0}


def calibration(cfg: BenchmarkConf, data: LMData) -> Callable[[], Iterator[torch.Tensor]]:
    """The first ``pruner.calibration_samples`` training blocks in the pruning seed's order."""
    def batches() -> Iterator[torch.Tensor]:
        left = cfg.pruner.calibration_samples
        for batch in islice(data.train(cfg.seed.prune).epoch(0), len(data.train(cfg.seed.prune))):
            if left <= 0:
                return
            yield batch[:left]
            left -= len(batch)
    return batches


class LanguageModelling:
    """The training loop's objective for causal LMs (:class:`benchmark.train.Objective`): the
    next-token loss of each block, validation perplexity, and only the trainable tensors in a
    checkpoint (frozen weights come back from the cached stage the cell starts from)."""

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        return distributed.shard(batch)

    def step(self, forward: Callable, batch: torch.Tensor, channels_last: bool, criterion: Optional[Callable]
             ) -> Tuple[torch.Tensor, int, Optional[torch.Tensor]]:
        return token_loss(forward, batch), len(batch), None

    def validate(self, model: nn.Module, loader: BlockLoader, fast: bool, precision: str) -> Dict[str, float]:
        return {"val_ppl": perplexity(model, loader, autocast_for(loader.device, fast, precision))["ppl"]}

    def state(self, model: nn.Module) -> Dict[str, Any]:
        return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def load(self, model: nn.Module, state: Dict[str, Any]) -> None:
        model.load_state_dict(state, strict=False)


LANGUAGE_MODELLING = LanguageModelling()


class Reconstruction(LanguageModelling):
    """``retrain.objective=reconstruct``: each block of ``model`` trained to reproduce the dense
    block's output from the dense block's input (:mod:`benchmark.lm.reconstruct`); validation,
    checkpoints and the test metric stay the language model's."""

    def __init__(self, dense: nn.Module, model: nn.Module) -> None:
        self.dense, self.model = dense, model

    def step(self, forward: Callable, batch: torch.Tensor, channels_last: bool, criterion: Optional[Callable]
             ) -> Tuple[torch.Tensor, int, Optional[torch.Tensor]]:
        return reconstruction_loss(self.dense, forward, self.model, batch), len(batch), None


class MaskHook:
    """Zero the pruned weights again after every optimizer step, whatever the regime trains
    (:class:`benchmark.train.StepHook`)."""

    def __init__(self, model: nn.Module, masks: Dict[str, torch.Tensor]) -> None:
        self.model, self.masks = model, masks

    def __call__(self, step: int) -> None:
        pass

    def after_step(self) -> None:
        if self.masks:
            apply_masks(self.model, self.masks)

    def row(self) -> Dict[str, float]:
        return {}

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


# The leaves of a language-model config that no language-model code reads (benchmark/lm, this module): the
# weights of what the cell refuses. (TextDatasetConf, CausalLMConf and LMPrunerConf inherit no image field: they
# share only benchmark.fields' DatasetGroup, ModelGroup and PrunerGroup with the image schemas.) Accepted,
# each would be ignored yet hashed into a new cache entry, so any value but the default of the task's own
# schema is refused (TextTask.refuse_ignored, from validation.validate).
# What the cell cannot run with its meaning (schedules, rounds, distill, ...) is benchmark.tasks.text_checks.REFUSED.
_KD = "knowledge distillation is refused for language models (distill stays none), so its settings are never read"
IGNORED: Tuple[Tuple[str, str], ...] = (
    ("distill.alpha", _KD),
    ("distill.temperature", _KD),
)
# The leaves a language-model cell reads only under one option (TextTask.refuse_ignored, with the recipe's).
_SOURCE = "it belongs to dataset.source={}"
UNREAD: Tuple[Unread, ...] = (
    ("pruner.dampening", lambda c: c.pruner.name == "sparsegpt", "only pruner=sparsegpt dampens its Hessian"),
    ("pruner.blocksize", lambda c: c.pruner.name == "sparsegpt", "only pruner=sparsegpt solves its columns in blocks"),
    ("pruner.calibration_samples", lambda c: c.pruner.name in ("wanda", "sparsegpt"),
     "only pruner=wanda and sparsegpt calibrate on training blocks"),
    ("retrain.lora.", lambda c: c.retrain.params == "lora", "the adapters exist only under retrain.params=lora"),
    ("dataset.markov.", lambda c: c.dataset.source == "markov", _SOURCE.format("markov")),
    ("dataset.path", lambda c: c.dataset.source == "hub", _SOURCE.format("hub")),
    ("dataset.subset", lambda c: c.dataset.source == "hub", _SOURCE.format("hub")),
    ("dataset.files.", lambda c: c.dataset.source == "files", _SOURCE.format("files")),
    *[(key, lambda c: c.dataset.source in ("hub", "files"), "the built-in Markov corpus has no text to read it from")
      for key in ("dataset.text_field", "dataset.split_names.", "dataset.tokenizer")],
    *RECIPE_UNREAD,
)


class TextTask:
    name = "text"
    metric = "test_ppl"
    compiles = False  # transformers' models are run eagerly
    objective = LANGUAGE_MODELLING
    pruning_key = "masks"  # the pruned stage's file stores the masks under this key

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
        """bf16 autocast under ``fast`` where the device runs it natively, else fp32 (the shared rule):
        the one loop's steps and every perplexity (:func:`evaluate_splits`) run in it."""
        return device_precision(cfg)

    # --- the stages (benchmark.stages) ---

    def dense(self, cfg: BenchmarkConf, device: torch.device) -> nn.Module:
        return dense_lm(cfg, device)

    def open_data(self, cfg: BenchmarkConf, device: torch.device) -> LMData:
        return open_lm_data(cfg, device)

    def source(self, cfg: BenchmarkConf, model: nn.Module) -> str:
        return "pretrained" if cfg.model.pretrained else "trained"

    def keeps_weights(self, cfg: BenchmarkConf) -> bool:
        """A pretrained model's weights are read again from their source, not copied into the cache."""
        return not cfg.model.pretrained

    def scores(self, cfg: BenchmarkConf, model: nn.Module, data: LMData) -> Dict[str, float]:
        """Perplexity on every evaluation split, in the cell's precision."""
        return evaluate_splits(model, data.evals, cfg.fast, cfg.precision)

    def baseline_meta(self, cfg: BenchmarkConf, model: nn.Module) -> Dict[str, Any]:
        return {"ppl_floor": floor(cfg.dataset), **counts(model, {})}

    def prune(self, cfg: BenchmarkConf, spec: Any, model: nn.Module, data: LMData
              ) -> Tuple[nn.Module, Dict[str, torch.Tensor]]:
        """One-shot pruning of every block's linears; the masks it leaves."""
        seed_everything(cfg.seed.prune)
        return model, ({} if cfg.pruner.name == "none" else prune_lm(model, cfg.pruner, calibration(cfg, data)))

    def rebuild(self, cfg: BenchmarkConf, device: torch.device, state: Dict[str, torch.Tensor]) -> nn.Module:
        """Masks keep the dense architecture."""
        return dense_lm(cfg, device)

    def pruned_meta(self, cfg: BenchmarkConf, spec: Any, model: nn.Module, state: Dict[str, torch.Tensor]
                    ) -> Dict[str, Any]:
        return counts(model, state)

    # --- the cell (benchmark.cell) ---

    def spec(self, cfg: BenchmarkConf, device: torch.device) -> Any:
        """The pruner as configured (checked in the validation phase: text_checks)."""
        return cfg.pruner

    def rounds(self, spec: Any) -> int:
        return 1  # pruned once: pruner.rounds > 1 is refused (text_checks.REFUSED)

    def label(self, cfg: BenchmarkConf, sep: str) -> str:
        """The regime in the cell's name: FT under all parameters and under LoRA are different cells,
        and so are the next-token and the reconstruction objective."""
        objective = f"{sep}reconstruct" if cfg.retrain.objective == "reconstruct" else ""
        return f"{sep}{cfg.retrain.params}{objective}"

    def retraining_objective(self, cfg: BenchmarkConf, dense: nn.Module, model: nn.Module) -> LanguageModelling:
        """What retraining minimises: the next-token loss, or the blocks' local reconstruction."""
        return Reconstruction(dense, model) if cfg.retrain.objective == "reconstruct" else LANGUAGE_MODELLING

    def input_size(self, cfg: BenchmarkConf) -> None:
        return None  # read only by weight rewinding and Scratch, refused here

    def fresh(self, cfg: BenchmarkConf, device: torch.device, seed: int) -> nn.Module:
        return dense_lm(cfg, device, seed)

    def counts(self, cfg: BenchmarkConf, model: nn.Module, state: Dict[str, torch.Tensor]) -> Dict[str, Any]:
        return counts(model, state)

    def prune_again(self, cfg: BenchmarkConf, spec: Any, model: nn.Module, data: LMData,
                    state: Dict[str, torch.Tensor], round_index: int) -> Dict[str, torch.Tensor]:
        raise NotImplementedError("language models are pruned once (pruner.rounds > 1 is refused by text_checks)")

    def retrainable(self, cfg: BenchmarkConf, model: nn.Module, state: Dict[str, torch.Tensor]) -> nn.Module:
        """The regime (``retrain.params``): all parameters, biases and norms, or LoRA adapters, on a
        copy of the pruned model (the cached stage stays as it was)."""
        return regimes.prepare(copy.deepcopy(model), cfg.retrain, state)

    def step_hook(self, cfg: BenchmarkConf, spec: Any, model: nn.Module, state: Dict[str, torch.Tensor],
                  round_index: int, total_steps: int) -> MaskHook:
        return MaskHook(model, state)

    def after_round(self, cfg: BenchmarkConf, spec: Any, model: nn.Module, state: Dict[str, torch.Tensor],
                    hook: Any) -> Dict[str, Any]:
        return {"trainable_params": sum(p.numel() for p in regimes.trainable(model))}

    def finish(self, cfg: BenchmarkConf, model: nn.Module, state: Dict[str, torch.Tensor]) -> nn.Module:
        """Adapters merged into the weights, the masks applied (:func:`benchmark.lm.regimes.finish`)."""
        return regimes.finish(model, cfg.retrain, state)

    def retraining(self, cfg: BenchmarkConf, final: Dict[str, Any]) -> Dict[str, Any]:
        return {"params": cfg.retrain.params, "objective": cfg.retrain.objective,
                "trainable_params": final["trainable_params"]}

    def complete(self, record: Any, cfg: BenchmarkConf, spec: Any, base: Any, pruned: Any, outcome: Any) -> None:
        """The dense and pruned perplexities, the corpus's floor, the model summary."""
        record.metrics |= {"baseline_test_ppl": base.meta["metrics"]["test_ppl"],
                           "pruned_test_ppl": pruned.meta["metrics"]["test_ppl"], "ppl_floor": floor(cfg.dataset)}
        after = counts(outcome.model, outcome.history) if outcome.status == "finished" else pruned.meta
        trainable = outcome.rounds[-1]["trainable_params"]
        record.model = {"params_before": base.meta["params"], "params_after": after["params"],
                        "flops_before": None, "flops_after": None, "sparsity": 1.0 - after["params"] / base.meta["params"],
                        "layer_sparsity": after["sparsity_layers"], "pruned_layer_sparsity": pruned.meta["sparsity_layers"],
                        "trainable_params": trainable, "trainable_fraction": trainable / base.meta["params"],
                        "baseline_source": base.meta["source"]}

    def refuse_ignored(self, cfg: Any) -> None:
        """A leaf of :data:`IGNORED` away from its schema default, or one of :data:`UNREAD` while the
        option that reads it is off, in one line naming it and why."""
        refuse_ignored(cfg, IGNORED, "language-model cells")
        refuse_unread(cfg, UNREAD)

    # --- plan mode (benchmark.plan) ---

    def plan_counts(self, cfg: BenchmarkConf, epochs: int, ident: Any) -> Dict[str, Any]:
        """Parameters from the model's config, tokens per stage, GPU-hours from FLOPs (benchmark.tasks.text_cost)."""
        return cost.plan_counts(cfg, epochs)

    def plan_lines(self, plan: Dict[str, Any]) -> List[str]:
        return cost.plan_lines(plan)

    def describe_cost(self, plan: Dict[str, Any]) -> str:
        return cost.describe_cost(plan)

    # --- the validation phase (benchmark.validation.CHECKS) ---

    def check_pairing(self, cfg: BenchmarkConf) -> None:
        """Every group is a language-model one; a config with only some of them names the ones it saw."""
        checks.check_pairing(cfg)

    def refuse_unrun(self, cfg: BenchmarkConf) -> None:
        """Schedules and settings this cell cannot run with their meaning (text_checks.REFUSED), by name."""
        checks.check_refused(cfg)

    def check(self, cfg: BenchmarkConf, epochs: int) -> None:
        """The model, data and regime against each other, before anything trains (text_checks.check_lm)."""
        checks.check_lm(cfg)


TEXT = TextTask()
