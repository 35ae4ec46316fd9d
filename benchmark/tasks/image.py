"""Image classification: the task of every dataset but text.

It wraps what the image pipeline has always done: the registry's datasets and models, filter and
weight pruning stored as a pruning history (:mod:`benchmark.pruning`), cross-entropy and top-1.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from benchmark import distributed, pruning
from benchmark.artefacts import read_json
from benchmark.data import Data, Loader, dataset_entry, image_size, open_data, train_length
from benchmark.device import seed_everything
from benchmark.errors import ConfigError
from benchmark.fastpath import fast_path, layout
from benchmark.identity import Identity
from benchmark.models import MODELS, build_model, model_family
from benchmark.models.custom import model_fingerprint
from benchmark.models.weights import load_weights
from benchmark.pruning.counting import count_macs, count_params
from benchmark.pruning.latency import forward_latency
from benchmark.records import reductions
from benchmark.retraining import distill, rewinding
from benchmark.retraining.convergence import baseline_summary
from benchmark.schema import BenchmarkConf
from benchmark.tasks import RECIPE_UNREAD, Fingerprints, Unread, device_precision, refuse_ignored, refuse_unread
from benchmark.tasks.image_cost import cell_throughput, cell_work, describe_hours, sweep_hours


@torch.no_grad()
def evaluate(model: nn.Module, loader: Loader, fast: bool = False, precision: str = "auto") -> Dict[str, float]:
    """Top-1, top-5 and mean loss over a whole split, in eval mode, in the precision training used."""
    model, autocast, channels_last = fast_path(model, loader.device, fast, precision)
    model.eval()
    correct1 = correct5 = loss = 0.0
    n = 0
    for images, labels in loader.epoch(0):
        with autocast():
            logits = model(layout(images, channels_last)).float()
        loss += F.cross_entropy(logits, labels, reduction="sum").item()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top == labels[:, None]
        correct1 += hits[:, 0].sum().item()
        correct5 += hits.any(dim=1).sum().item()
        n += len(labels)
    return {"top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n, "loss": loss / n}


class Classification:
    """The training loop's objective (:class:`benchmark.train.Objective`): cross-entropy (or the
    handed criterion, e.g. distillation) on the logits, top-1 on the training batches and the
    validation split; the whole model checkpointed."""

    def shard(self, batch: Any) -> Any:
        images, labels = batch
        return distributed.shard(images), distributed.shard(labels)

    def step(self, forward: Callable, batch: Any, channels_last: bool, criterion: Optional[Callable]
             ) -> Tuple[torch.Tensor, int, Optional[torch.Tensor]]:
        images, labels = batch
        logits = forward(layout(images, channels_last))
        loss = (F.cross_entropy(logits.float(), labels) if criterion is None
                else criterion(logits.float(), labels, images))
        return loss, len(labels), (logits.argmax(1) == labels).sum()

    def validate(self, model: nn.Module, loader: Any, fast: bool, precision: str) -> Dict[str, float]:
        return {"val_top1": evaluate(model, loader, fast, precision)["top1"]}

    def state(self, model: nn.Module) -> Dict[str, Any]:
        return model.state_dict()

    def load(self, model: nn.Module, state: Dict[str, Any]) -> None:
        model.load_state_dict(state)


CLASSIFICATION = Classification()


def dense_model(cfg: BenchmarkConf, device: torch.device, seed: Optional[int] = None) -> nn.Module:
    """The unpruned network, initialised from ``seed`` (the baseline seed unless given)."""
    seed_everything(cfg.seed.baseline if seed is None else seed)
    return build_model(cfg.model, cfg.dataset.num_classes).to(device)


def model_counts(model: nn.Module, size: int = 32) -> Dict[str, Any]:
    """Remaining parameters, multiply-accumulates (one ``size``-pixel image) and zeroed conv weights."""
    return {"params": count_params(model), "flops": count_macs(model, size), "conv_sparsity": pruning.conv_sparsity(model)}


def pruning_spec(cfg: BenchmarkConf, model: nn.Module) -> pruning.PruningSpec:
    """The pruner config resolved for this model, a target size turned into a ratio."""
    spec = pruning.resolve(cfg.pruner, cfg.model.name)
    pruning.validate(spec, model)
    if cfg.model.weights is not None:  # the released baseline must fit before anything trains
        load_weights(copy.deepcopy(model), cfg.model.weights)
    pruning.check_files(spec, model, cfg.dataset.num_classes, image_size(cfg.dataset))
    if cfg.pruner.target_reduction is not None:
        spec = pruning.match_target(model, spec, cfg.pruner.target_metric, cfg.pruner.target_reduction,
                                    image_size=image_size(cfg.dataset))
    return spec


def evaluate_splits(model: nn.Module, evals: Dict[str, Loader], fast: bool = False,
                    precision: str = "auto") -> Dict[str, float]:
    metrics = {}
    for split, loader in evals.items():
        result = evaluate(model, loader, fast, precision)
        metrics[f"{split}_top1"], metrics[f"{split}_top5"] = result["top1"], result["top5"]
    return metrics


def latency(cfg: BenchmarkConf, model: nn.Module) -> Optional[Dict[str, Any]]:
    return forward_latency(model, cfg.latency.batch, cfg.latency.warmup, cfg.latency.repeats, image_size(cfg.dataset))


def pruning_batches(cfg: BenchmarkConf, data: Data) -> Callable[[], Iterator[Tuple[torch.Tensor, torch.Tensor]]]:
    """The first training batches of the pruning seed: what data-driven criteria (Taylor) score over."""
    return lambda: (batch for _, batch in zip(range(cfg.pruner.taylor_batches), data.train(cfg.seed.prune).epoch(0)))


# The leaves of an image config that no image code reads: the language models' retraining regime.
# Accepted, each would be ignored yet hashed into a new cell identity, so any value but RetrainConf's
# default is refused (ImageTask.refuse_ignored, from validation.validate).
_LORA = "LoRA adapters of a language model's retraining (retrain.params=lora); an image cell retrains every parameter"
IGNORED: Tuple[Tuple[str, str], ...] = (
    ("retrain.params", "it chooses which parameters a language model's retraining updates; an image cell retrains "
                       "every parameter"),
    ("retrain.lora.rank", _LORA),
    ("retrain.lora.alpha", _LORA),
    ("retrain.lora.dropout", _LORA),
    ("retrain.lora.targets", _LORA),
    ("retrain.lora.masked", _LORA),
    ("retrain.objective", "it chooses what a language model's retraining minimises (block reconstruction); an "
                          "image cell minimises the cross-entropy"),
)
# The image leaves read only under one option (ImageTask.refuse_ignored): the recipe's. pruner.sparsity, which
# only the weight pruners read, is not among them: the findings presets set it grid-wide for their mwp cells,
# and their filter-pruned cells' shipped identities hash it (image identities must not change).
UNREAD: Tuple[Unread, ...] = RECIPE_UNREAD



def _model_summary(cfg: BenchmarkConf, spec: pruning.PruningSpec, base: Any, pruned: Any, outcome: Any) -> Dict[str, Any]:
    """Counts before and after pruning (after the last round when iterative), and latencies."""
    after = outcome.rounds[-1] if spec.rounds > 1 or spec.gradual else pruned.meta
    return {
        "params_before": base.meta["params"], "params_after": after["params"],
        "flops_before": base.meta["flops"], "flops_after": after["flops"],
        **reductions(base.meta, after),
        "conv_sparsity": after["conv_sparsity"],
        "layer_sparsity": after.get("layer_sparsity", {}),  # pruned stages cached before issue 20 lack it
        **({"nm": after["nm"]} if "nm" in after else {}),
        "spec": pruned.meta["spec"],
        "baseline_source": base.meta.get("source", "trained"),  # trained | loaded (model.weights) | pretrained
        "baseline_weights": base.meta.get("weights"),
        "latency_dense": base.meta["latency"],
        "latency_pruned": (latency(cfg, outcome.model) if spec.rounds > 1 or spec.gradual
                           else pruned.meta["latency"]),
    }


def _pruned_counts(cfg: BenchmarkConf, model: nn.Module, spec: pruning.PruningSpec, size: int,
                   cached_meta: Path) -> Dict[str, Any]:
    """Counts after pruning, without data: structured widths do not depend on the scores (L1
    stands in for every criterion), a checkpoint is read. A custom pruner's result is known only
    once it has run (then from the cache); a global ranking's widths depend on the trained weights."""
    meta = read_json(cached_meta)
    if meta is not None and spec.rounds == 1 and not spec.gradual:  # AGP's cached stage holds s_i, not s_f
        return {"params": meta["params"], "flops": meta["flops"], "exact": True}
    if spec.name == "custom":
        return {"params": None, "flops": None, "exact": False}
    if spec.name == "checkpoint":
        model, _ = pruning.checkpoint.load_pruned(model, spec, cfg.dataset.num_classes, size)
    else:
        history = None
        for r in range(spec.rounds):
            # AGP counts as the one-shot pruner its final masks equal in size.
            history = pruning.prune(model, pruning.gradual.final_spec(spec), cfg.seed.prune + r,
                                    criterion="l1" if spec.structured or spec.graph else None, history=history,
                                    image_size=size)
    counts = model_counts(model, size)
    return {"params": counts["params"], "flops": counts["flops"], "exact": not spec.global_pruning}


def _count_line(label: str, before: int, after: Any, pct: Any, unit: str = "") -> str:
    if after is None:
        return f"{label}{before:,}{unit} -> known once the pruner has run"
    return f"{label}{before:,} -> {after:,}{unit} (-{pct:.1f}%)"


class ImageTask:
    name = "image"
    metric = "test_top1"
    compiles = True  # the fast path may torch.compile the training forward
    objective = CLASSIFICATION
    pruning_key = "history"  # the pruned stage's file stores the pruning history under this key

    def fingerprints(self, cfg: Any) -> Fingerprints:
        """A user's model files and constructor, and what the pruner names (benchmark.sources)."""
        return model_fingerprint(cfg.model), pruning.fingerprint(cfg.pruner)

    plan_fingerprints = fingerprints  # an image cell's files must be on the planning machine too

    def precision(self, cfg: Any) -> str:
        """bf16 autocast under ``fast`` where the device runs it natively, else fp32 (the shared rule)."""
        return device_precision(cfg)

    # --- the stages (benchmark.stages) ---

    def dense(self, cfg: BenchmarkConf, device: torch.device) -> nn.Module:
        return dense_model(cfg, device)

    def open_data(self, cfg: BenchmarkConf, device: torch.device) -> Data:
        return open_data(cfg.dataset, cfg.recipe.batch_size, device)

    def source(self, cfg: BenchmarkConf, model: nn.Module) -> str:
        """Where the baseline's weights come from, loading a released checkpoint into ``model``."""
        if cfg.model.weights is not None:
            load_weights(model, cfg.model.weights)
            return "loaded"
        return "pretrained" if cfg.model.pretrained else "trained"

    def keeps_weights(self, cfg: BenchmarkConf) -> bool:
        """Whether the baseline stage stores its weights (always: torchvision's pretrained ones too)."""
        return True

    def scores(self, cfg: BenchmarkConf, model: nn.Module, data: Data) -> Dict[str, float]:
        """Top-1 and top-5 on every evaluation split."""
        return evaluate_splits(model, data.evals, cfg.fast, cfg.precision)

    def baseline_meta(self, cfg: BenchmarkConf, model: nn.Module) -> Dict[str, Any]:
        """What a baseline's meta holds beside its metrics: the released weights' hash, latency, counts."""
        return {"weights": model_fingerprint(cfg.model).get("weights"), "latency": latency(cfg, model),
                **model_counts(model, image_size(cfg.dataset))}

    def prune(self, cfg: BenchmarkConf, spec: pruning.PruningSpec, model: nn.Module, data: Data
              ) -> Tuple[nn.Module, Dict[str, Any]]:
        """The first pruning round of ``spec`` on the baseline's weights; its pruning history."""
        if spec.name == "checkpoint":  # a network pruned elsewhere: loaded, not pruned
            return pruning.checkpoint.load_pruned(model, spec, cfg.dataset.num_classes, image_size(cfg.dataset))
        history = pruning.prune(model, spec, cfg.seed.prune, pruning_batches(cfg, data), image_size=image_size(cfg.dataset))
        return model, history

    def rebuild(self, cfg: BenchmarkConf, device: torch.device, state: Dict[str, Any]) -> nn.Module:
        """The pruned architecture a stored pruning history describes, to load weights into."""
        return pruning.rebuild(dense_model(cfg, device), state, image_size(cfg.dataset))

    def pruned_meta(self, cfg: BenchmarkConf, spec: pruning.PruningSpec, model: nn.Module, state: Dict[str, Any]
                    ) -> Dict[str, Any]:
        return {"spec": asdict(spec), "latency": latency(cfg, model), **model_counts(model, image_size(cfg.dataset)),
                **pruning.mask_report(model, spec)}

    # --- the cell (benchmark.cell) ---

    def spec(self, cfg: BenchmarkConf, device: torch.device) -> pruning.PruningSpec:
        """The resolved pruning plan, checked against the dense model before any data or training."""
        return pruning_spec(cfg, dense_model(cfg, device))

    def rounds(self, spec: pruning.PruningSpec) -> int:
        return spec.rounds

    def label(self, cfg: BenchmarkConf, sep: str) -> str:
        """What a cell's name adds to dataset-model-pruner-schedule: nothing."""
        return ""

    def input_size(self, cfg: BenchmarkConf) -> int:
        return image_size(cfg.dataset)

    def fresh(self, cfg: BenchmarkConf, device: torch.device, seed: int) -> nn.Module:
        """A dense model initialised from ``seed`` (weight rewinding loads into it; Scratch keeps its weights)."""
        return dense_model(cfg, device, seed)

    def counts(self, cfg: BenchmarkConf, model: nn.Module, state: Dict[str, Any]) -> Dict[str, Any]:
        return model_counts(model, image_size(cfg.dataset))

    def prune_again(self, cfg: BenchmarkConf, spec: pruning.PruningSpec, model: nn.Module, data: Data,
                    state: Dict[str, Any], round_index: int) -> Dict[str, Any]:
        """Iterative pruning's next round on the retrained model; the history grows."""
        return pruning.prune(model, spec, cfg.seed.prune + round_index, pruning_batches(cfg, data),
                             history=state, image_size=image_size(cfg.dataset))

    def retrainable(self, cfg: BenchmarkConf, model: nn.Module, state: Dict[str, Any]) -> nn.Module:
        """Every parameter retrains."""
        return model

    def step_hook(self, cfg: BenchmarkConf, spec: pruning.PruningSpec, model: nn.Module, state: Dict[str, Any],
                  round_index: int, total_steps: int) -> Any:
        """AGP's mask updates while retraining (``pruner=agp``), else none."""
        return pruning.step_hook(spec, model, cfg.seed.prune + round_index, total_steps)

    def after_round(self, cfg: BenchmarkConf, spec: pruning.PruningSpec, model: nn.Module, state: Dict[str, Any],
                    hook: Any) -> Dict[str, Any]:
        """The masks grew while retraining (AGP): count the model they leave."""
        if hook is None:
            return {}
        return hook.summary() | model_counts(model, image_size(cfg.dataset)) | pruning.mask_report(model, spec)

    def finish(self, cfg: BenchmarkConf, model: nn.Module, state: Dict[str, Any]) -> nn.Module:
        return model

    def retraining_objective(self, cfg: BenchmarkConf, dense: nn.Module, model: nn.Module) -> Classification:
        """Cross-entropy (a distillation criterion, when asked, rides on it)."""
        return CLASSIFICATION

    def retraining(self, cfg: BenchmarkConf, final: Dict[str, Any]) -> Dict[str, Any]:
        """What the record's ``retraining`` adds beyond what preparation decided: nothing."""
        return {}

    def complete(self, record: Any, cfg: BenchmarkConf, spec: pruning.PruningSpec, base: Any, pruned: Any,
                 outcome: Any) -> None:
        """The record's dense and pruned top-1, the baseline's convergence verdict, the model summary."""
        record.metrics["baseline_test_top1"] = base.meta["metrics"]["test_top1"]
        record.metrics["pruned_test_top1"] = pruned.meta["metrics"]["test_top1"]
        record.baseline = baseline_summary(base.meta.get("history", []), cfg.recipe, cfg.convergence,
                                           base.meta.get("source", "trained"))
        record.model = _model_summary(cfg, spec, base, pruned, outcome)

    def refuse_ignored(self, cfg: Any) -> None:
        """A leaf of :data:`IGNORED` away from its schema default, or one of :data:`UNREAD` while the
        option that reads it is off, in one line naming it and why."""
        refuse_ignored(cfg, IGNORED, "image cells")
        refuse_unread(cfg, UNREAD)

    # --- plan mode (benchmark.plan) ---

    def plan_counts(self, cfg: BenchmarkConf, epochs: int, ident: Identity) -> Dict[str, Any]:
        """Parameters and FLOPs before and after pruning, computed on a freshly initialised model,
        and the throughput that turns the plan's images into hours (benchmark.tasks.image_cost)."""
        model = dense_model(cfg, torch.device("cpu"))
        size = image_size(cfg.dataset)
        before = model_counts(model, size)
        spec = pruning_spec(cfg, model)
        after = _pruned_counts(cfg, model, spec, size, Path(cfg.paths.cache) / "pruned" / ident.pruned / "meta.json")
        return {
            "params_before": before["params"],
            "params_after": after["params"],
            "flops_before": before["flops"],
            "flops_after": after["flops"],
            **reductions(before, after),
            "counts_exact": after["exact"],
            "pruning_ratio": spec.ratio if spec.stage_ratios is None else spec.stage_ratios,
            "rounds": spec.rounds,
            "baseline_epochs": cfg.recipe.epochs,
            "steps_per_epoch": math.ceil(train_length(cfg.dataset) / cfg.recipe.batch_size),
            "throughput": cell_throughput(cfg),  # images per epoch and img/s: plan mode's hours
        }

    def plan_lines(self, plan: Dict[str, Any]) -> List[str]:
        return [_count_line("params    ", plan["params_before"], plan["params_after"], plan["params_reduction_pct"]),
                _count_line("FLOPs     ", plan["flops_before"], plan["flops_after"], plan["flops_reduction_pct"], " MACs")]

    def describe_cost(self, plan: Dict[str, Any]) -> str:
        return describe_hours(sweep_hours(cell_work(plan)))

    # --- the validation phase (benchmark.validation.CHECKS) ---

    def check_pairing(self, cfg: BenchmarkConf) -> None:
        """The dataset is a registered one, and a model and a recipe written for different data fail in
        one line (``dataset=imagenet`` with the CIFAR ResNet-56 and the CIFAR recipe, say)."""
        family = dataset_entry(cfg.dataset.name).family
        if model_family(cfg.model.name) not in ("any", family):
            fitting = ", ".join(name for name in MODELS if model_family(name) in ("any", family))
            raise ConfigError(f"model={cfg.model.name} is defined for {model_family(cfg.model.name)} data; "
                              f"dataset={cfg.dataset.name} needs one of: {fitting}")
        if cfg.recipe.name not in ("", family):
            raise ConfigError(f"recipe={cfg.recipe.name} is written for {cfg.recipe.name} data; "
                              f"dataset={cfg.dataset.name} needs recipe={family}")

    def refuse_unrun(self, cfg: BenchmarkConf) -> None:
        """Nothing: the image cell runs every schedule and setting of the registry with its meaning."""

    def check(self, cfg: BenchmarkConf, epochs: int) -> None:
        """Each image-side group's own checks, beside the code they guard: distillation, the
        weight-rewinding snapshots against E and T, and the pruner against the model."""
        distill.validate(cfg.distill)
        rewinding.snapshot_epochs(cfg.rewind_epochs, cfg.schedule.name, cfg.recipe.epochs, epochs)
        pruning.resolve(cfg.pruner, cfg.model.name)  # benchmark.pruning.spec


IMAGE = ImageTask()
