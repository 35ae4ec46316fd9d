"""Typed schemas for every config group, registered in Hydra's ConfigStore.

Each YAML option under ``conf/<group>/`` extends one of these schemas through its
defaults list, so a value of the wrong type (``budget.epochs=abc``) fails when
Hydra composes the config, before any data is touched or any model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from benchmark.progress import MODES as PROGRESS_MODES

WANDB_MODES = ("auto", "online", "offline", "disabled")  # benchmark.tracking resolves auto


@dataclass(frozen=True)
class Domain:
    """The values a setting may take, read by ``benchmark.validation`` before any training.
    A bound is a number or the dotted key of another value (``recipe.epochs``, or a derived
    one: ``T`` the retraining budget, ``data.train_images``, ``data.train_after_val``); a list
    setting is checked element by element (``increasing``: strictly, in order)."""

    low: Any = None
    high: Any = None
    low_open: bool = False
    high_open: bool = False
    choices: Tuple[str, ...] = ()
    increasing: bool = False


def ranged(default: Any = MISSING, *, factory: Any = None, **domain: Any) -> Any:
    """A dataclass field carrying its :class:`Domain` in the field's metadata."""
    meta = {"domain": Domain(**domain)}
    return field(default_factory=factory, metadata=meta) if factory is not None else field(default=default, metadata=meta)


POSITIVE = {"low": 0, "low_open": True}
FRACTION = {"low": 0, "high": 1, "high_open": True}  # [0, 1)
OPEN_UNIT = {"low": 0, "high": 1, "low_open": True, "high_open": True}  # (0, 1)
SEED = {"low": 0, "high": 2**63 - 1}


# Each of the dataset, model and pruner groups has one base per role, holding only what every task reads
# (BenchmarkConf's fields are typed by it), and one schema per task below it: an image schema and a language-
# model schema share no field the other task would ignore (so neither accepts a leaf it never reads).


@dataclass
class DatasetGroup:
    """What every task's data has: its name (the dataset registry's, or text)."""

    name: str = MISSING


@dataclass
class ModelGroup:
    """What every task's model has: a name, and whether its weights are released ones."""

    name: str = MISSING
    pretrained: bool = False  # torchvision ResNets: torchvision's ImageNet weights | causal LMs: model.name's weights


@dataclass
class PrunerGroup:
    """What every task's pruner has: a name, a sparsity and how many prune-then-retrain rounds."""

    name: str = MISSING
    sparsity: float = ranged(0.0, **FRACTION)  # unstructured: fraction of the weights zeroed (image: of remaining conv weights, per round)
    rounds: int = ranged(1, low=1)  # iterative pruning: rounds of prune-then-retrain, each of T epochs


@dataclass
class DatasetConf(DatasetGroup):
    """Where images come from; fields that change the data enter the identity."""

    root: str = "data"  # where torchvision finds (or downloads) the archive; not part of identity
    download: bool = True  # try to fetch when missing; never part of identity
    num_classes: int = ranged(10, low=2)
    val_size: int = ranged(0, low=0, high="data.train_images", high_open=True)  # images carved from the training set as a validation split (0 = none)
    train_subset: Optional[int] = ranged(None, low=1, high="data.train_after_val")  # keep the first N of a seeded permutation of the training set
    split_seed: int = ranged(0, **SEED)  # seed of the permutation behind val_size and train_subset


@dataclass
class SyntheticDatasetConf(DatasetConf):
    """Procedural images: deterministic from ``seed``, learnable only in part."""

    name: str = "synthetic"
    train_size: int = ranged(5000, low=1)
    test_size: int = ranged(1000, low=1)
    seed: int = ranged(0, **SEED)
    noise: float = ranged(0.5, low=0)  # std of per-pixel Gaussian noise, in units of the [0, 1] range
    distractor: float = ranged(0.7, low=0, high=1)  # max weight of another class's pattern mixed into each image
    image_size: int = ranged(32, low=8)  # side of the square images (the demo's 16 trains ~4x faster than 32)


@dataclass
class ImageFolderDatasetConf(DatasetConf):
    """ImageNet-style data: ``root/train/<class>/*`` and ``root/val/<class>/*``."""

    name: str = "imagenet"
    num_classes: int = 1000
    image_size: int = ranged(224, low=8)  # training crop and evaluation centre crop
    workers: int = ranged(8, low=0)  # DataLoader worker processes (not part of the identity)


@dataclass
class ModelConf(ModelGroup):
    """An architecture by name plus a width multiplier (1.0 = the paper's model)."""

    name: str = MISSING  # one of benchmark.models.MODELS (conf/model/*.yaml), custom: model._target_
    width: float = ranged(1.0, **POSITIVE)  # CIFAR models only
    weights: Optional[str] = None  # a released dense state dict as the baseline (its SHA-256 is identity)


@dataclass
class CustomModelConf(ModelConf):
    """Any constructor as the dense network: ``_target_(**kwargs, num_classes=dataset.num_classes)``."""

    name: str = "custom"
    _target_: str = MISSING  # module.callable, e.g. torchvision.models.mobilenet_v2
    kwargs: Dict[str, Any] = field(default_factory=dict)  # constructor arguments (num_classes comes from the data)


@dataclass
class MobileNetV2Conf(ModelConf):
    """torchvision's MobileNetV2 with its stage table as data (the CIFAR variant's strides)."""

    name: str = "mobilenetv2"
    # rows of (expansion t, channels c, blocks n, first stride s), as in the MobileNetV2 paper
    setting: List[List[int]] = field(default_factory=lambda: [
        [1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]])
    stem_stride: int = 1  # 2 on ImageNet; 1 keeps 32x32 inputs at 4x4 before pooling
    dropout: float = 0.0  # before the classifier (torchvision's ImageNet default: 0.2)


@dataclass
class ViTConf(ModelConf):
    """timm's VisionTransformer for small images; ``width`` scales ``embed_dim``."""

    name: str = "vit"
    patch_size: int = 4
    embed_dim: int = 192
    depth: int = 9
    num_heads: int = 6
    mlp_ratio: float = 2.0
    drop_path_rate: float = 0.0


@dataclass
class RecipeConf:
    """The original (baseline) training recipe; retraining schedules derive from it."""

    name: str = ""  # cifar | imagenet | ...: the dataset family it was written for ("" = any); not hashed
    epochs: int = ranged(160, low=1)
    batch_size: int = ranged(64, low=1)
    lr: float = ranged(0.1, **POSITIVE)
    milestones: List[int] = ranged(factory=lambda: [80, 120], low=0, high="recipe.epochs", low_open=True,
                                   high_open=True, increasing=True)
    gamma: float = ranged(0.1, low=0, high=1, low_open=True)
    momentum: float = ranged(0.9, **FRACTION)  # SGD momentum (ignored by adamw, whose momentum is betas[0])
    weight_decay: float = ranged(1e-4, low=0)
    nesterov: bool = False  # the paper says Nesterov; the authors' code does not use it
    optimizer: str = "sgd"  # sgd | adamw (benchmark.retraining.optimizers.OPTIMIZERS)
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw only
    shape: str = "step"  # step: lr x gamma at milestones, per epoch | cosine: per iteration, to min_lr | onecycle
    warmup_epochs: int = 0  # linear warm-up from 0 to lr over the first epochs, per iteration
    min_lr: float = 0.0  # cosine only: the rate the cosine ends at


@dataclass
class PrunerConf(PrunerGroup):
    """Which filters to remove. ``none`` leaves the baseline whole."""

    name: str = MISSING  # none | l1 | random | taylor | mwp | random_unstructured | agp | nm | torch_pruning | custom | checkpoint
    variant: Optional[str] = None  # a paper variant of the model (benchmark/pruning/variants.yaml)
    ratio: float = ranged(0.0, **FRACTION)  # uniform fraction of filters removed from every prunable layer
    stage_ratios: Optional[List[float]] = ranged(None, **FRACTION)  # per-stage ratios (ResNets), overriding ratio
    skip_layers: List[int] = ranged(factory=list, low=1)  # conv ids (stem = 1) left whole
    taylor_batches: int = ranged(10, low=1)  # training batches that Taylor-FO-BN scores accumulate over
    round_to: int = ranged(1, low=1)  # keep a multiple of this many filters per layer (8: hardware-friendly)
    target_reduction: Optional[float] = ranged(None, **OPEN_UNIT)  # find the uniform ratio reaching this reduction
    target_metric: str = ranged("params", choices=("params", "flops"))  # params | flops: what target_reduction measures
    widths_from: Optional[str] = None  # random: the per-layer widths of this pruned checkpoint


@dataclass
class WeightPrunerConf(PrunerConf):
    """Unstructured weight pruning (mwp, random_unstructured): how the sparsity is shared among layers."""

    allocation: str = ranged("global", choices=("global", "uniform", "erk", "lamp"))  # benchmark/pruning/allocation.py
    first_layer: str = ranged("auto", choices=("auto", "dense", "sparse"))  # auto: dense under uniform (Evci et al.)
    classifier: str = ranged("dense", choices=("dense", "sparse"))  # sparse: mask the last linear layer too


@dataclass
class GradualPrunerConf(WeightPrunerConf):
    """AGP (Zhu & Gupta 2017): sparsity rising from initial_sparsity to sparsity while retraining."""

    name: str = "agp"
    sparsity: float = ranged(0.9, **OPEN_UNIT)  # s_f, reached at step end x (retraining steps)
    initial_sparsity: float = ranged(0.0, **FRACTION)  # s_i, applied when retraining starts
    start: float = ranged(0.0, **FRACTION)  # t_0 as a fraction of the retraining steps
    end: float = ranged(0.75, low=0, high=1, low_open=True)  # t_0 + n dt as a fraction of the retraining steps
    frequency: int = ranged(100, low=1)  # dt: steps between mask updates


@dataclass
class NMPrunerConf(PrunerConf):
    """N:M semi-structured sparsity: at most n nonzero weights in every m consecutive input channels."""

    name: str = "nm"
    n: int = ranged(2, low=1)
    m: int = ranged(4, low=2)
    classifier: str = ranged("dense", choices=("dense", "sparse"))  # sparse: the last linear layer too


@dataclass
class TorchPruningConf(PrunerConf):
    """Any Torch-Pruning importance through its own pruner over the dependency graph."""

    name: str = "torch_pruning"
    ratio: float = ranged(0.5, **FRACTION)
    # A ``_target_`` node: torch_pruning.importance.<Class> plus its keyword arguments.
    importance: Dict[str, Any] = field(
        default_factory=lambda: {"_target_": "torch_pruning.importance.MagnitudeImportance"})
    global_pruning: bool = False  # rank channels across all groups instead of pruning each by ratio


@dataclass
class CustomPrunerConf(PrunerConf):
    """A user's callable ``fn(model, example_inputs, batches, seed=..., **kwargs)`` (pruning/custom.py)."""

    name: str = "custom"
    function: str = MISSING  # module:callable, importable from the working directory or PYTHONPATH
    kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to the callable; part of the identity


@dataclass
class CheckpointPrunerConf(PrunerConf):
    """A network pruned by another method's code, retrained from its file (pruning/checkpoint.py)."""

    name: str = "checkpoint"
    path: str = MISSING  # tp.state_dict of the configured model, or a plain state dict; its SHA-256 is identity
    # A _target_ node building the pruned model, for a plain state dict of another constructor ({}: none).
    architecture: Dict[str, Any] = field(default_factory=dict)


# --- Language models (benchmark/lm, docs/language_models.md) ----------------------------------------


@dataclass
class MarkovConf:
    """The built-in corpus: a random order-k Markov source whose entropy rate is known exactly."""

    vocab: int = ranged(16, low=2)  # alphabet size (token ids 0..vocab-1)
    order: int = ranged(2, low=1, high=4)  # each token depends on the previous `order` tokens (2: attention is needed)
    concentration: float = ranged(0.2, **POSITIVE)  # Dirichlet concentration of each transition row: lower = more predictable
    seed: int = ranged(0, **SEED)  # draws the transition matrix and the token streams


@dataclass
class TextFilesConf:
    """``dataset.source=files``: local .txt or .json(l) files of each split, read through ``datasets``."""

    train: List[str] = field(default_factory=list)
    validation: List[str] = field(default_factory=list)
    test: List[str] = field(default_factory=list)


@dataclass
class TextDatasetConf(DatasetGroup):
    """Text packed into blocks of ``block_size`` tokens: the built-in Markov corpus, a hub dataset or local files."""

    name: str = "text"
    source: str = ranged("markov", choices=("markov", "hub", "files"))  # markov: built in, offline | hub: path/subset | files
    path: Optional[str] = None  # source=hub: a datasets hub name (wikitext, allenai/c4)
    subset: Optional[str] = None  # source=hub: its configuration (wikitext-2-raw-v1)
    files: TextFilesConf = field(default_factory=TextFilesConf)  # source=files: dataset.files.train=[a.txt,...], .txt or .json(l)
    text_field: str = "text"  # the column holding the text (hub, JSON)
    split_names: Dict[str, str] = field(default_factory=dict)  # the source's split for ours, e.g. {test: validation} (C4 has no test)
    tokenizer: Optional[str] = None  # null: the model's own (model.name) | bytes: one token per UTF-8 byte
    block_size: int = ranged(64, low=2)  # tokens per training and evaluation block
    train_tokens: int = ranged(131072, low=2)  # tokens of the train split used: one "epoch" is one pass over them
    val_tokens: int = ranged(0, low=0)  # tokens of the validation split evaluated (0: none)
    test_tokens: int = ranged(32768, low=2)  # tokens of the test split evaluated (perplexity)
    markov: MarkovConf = field(default_factory=MarkovConf)


@dataclass
class CausalLMConf(ModelGroup):
    """Any transformers causal LM: pretrained weights by ``name`` (hub id or local folder), or a
    configuration built from scratch (``config``, with ``model_type``) and trained by the recipe."""

    name: str = "opt-tiny"  # pretrained: the hub id or local path | otherwise a label for the config
    config: Dict[str, Any] = field(default_factory=dict)  # transformers config kwargs, with model_type (opt, llama, gpt2, ...)
    revision: Optional[str] = None  # pretrained hub weights: the commit, tag or branch (null: main)
    dtype: str = ranged("float32", choices=("float32", "bfloat16", "float16"))  # weights' dtype
    num_params: Optional[int] = ranged(None, low=1)  # plan mode only: the size of a hub model not on this machine


@dataclass
class LMPrunerConf(PrunerGroup):
    """One-shot pruning of every linear layer of the transformer blocks (benchmark/lm/pruners.py)."""

    name: str = "wanda"  # magnitude | wanda | sparsegpt
    sparsity: float = ranged(0.5, **FRACTION)  # unstructured: fraction of each layer's (wanda: each row's) weights zeroed
    pattern: str = "unstructured"  # unstructured | N:M (2:4: keep 2 of every 4 consecutive inputs)
    calibration_samples: int = ranged(128, low=1)  # training blocks the activations are taken from (wanda, sparsegpt)
    dampening: float = ranged(0.01, low=0)  # sparsegpt: lambda = dampening x mean(diag H)
    blocksize: int = ranged(128, low=1)  # sparsegpt: columns solved (and masks chosen) together


@dataclass
class LoraConf:
    """LoRA adapters through peft (retrain.params=lora)."""

    rank: int = ranged(8, low=1)
    alpha: float = ranged(16.0, **POSITIVE)  # the update is scaled by alpha / rank
    dropout: float = ranged(0.0, low=0, high=1, high_open=True)
    targets: List[str] = field(default_factory=lambda: ["all-linear"])  # peft target_modules; all-linear: every linear but the head
    masked: bool = True  # MaskLoRA (PERP): the update is masked in every forward, so merging keeps the sparsity exactly


@dataclass
class RetrainConf:
    """Which parameters retraining updates; pruned weights stay zero in every regime."""

    params: str = ranged("all", choices=("all", "biases_norms", "lora"))
    lora: LoraConf = field(default_factory=LoraConf)
    # what retraining minimises: the next-token loss, or each block's reconstruction of the dense
    # block's output from the dense block's input (PERP / "A Free Lunch": benchmark/lm/reconstruct.py)
    objective: str = ranged("next_token", choices=("next_token", "reconstruct"))


@dataclass
class ScheduleConf:
    """A retraining schedule; every subclass is one entry of ``benchmark.retraining.schedules``."""

    name: str = MISSING


@dataclass
class OriginalScheduleConf(ScheduleConf):
    """The recipe's own schedule, under which baselines train (never a retraining choice)."""

    name: str = "original"


@dataclass
class FTScheduleConf(ScheduleConf):
    name: str = "ft"
    lr: Optional[float] = ranged(None, **POSITIVE)  # None: the last learning rate of the original schedule


@dataclass
class LRWScheduleConf(ScheduleConf):
    name: str = "lrw"
    source: str = "recipe"  # recipe: lr_orig(E - T + t) | recorded: the baseline's recorded per-iteration rates
    rates: Optional[List[float]] = None  # source=recorded: filled by the cell from the baseline; leave null


@dataclass
class BudgetAwareScheduleConf(ScheduleConf):
    """A warm-up then a decay to 0 over the budget, per iteration: llr | allr | cosine | rex."""

    name: str = "llr"
    warmup_fraction: float = ranged(0.1, **FRACTION)  # int(warmup_fraction x T x iterations) of cosine ramp from 0 to the peak
    peak_lr: Optional[float] = ranged(None, **POSITIVE)  # None: the recipe's largest lr; allr: decided after pruning (leave null)


@dataclass
class WRScheduleConf(ScheduleConf):
    """Weight rewinding (Renda et al. 2020): baseline weights of epoch E - T, recipe from E - T."""

    name: str = "wr"


@dataclass
class ScratchScheduleConf(ScheduleConf):
    """The pruned architecture from a fresh initialisation: scratch_e (E epochs) | scratch_b (E x FLOPs ratio)."""

    name: str = "scratch_b"


@dataclass
class SLRScheduleConf(ScheduleConf):
    name: str = "slr"
    warmup_fraction: float = ranged(0.1, **FRACTION)  # W = int(warmup_fraction * T) epochs of cosine warm-up
    start_lr: Optional[float] = ranged(None, **POSITIVE)  # None: the last learning rate of the original schedule
    peak_lr: Optional[float] = ranged(None, **POSITIVE)  # None: the original initial learning rate
    # Where the compressed step drops fall, as fractions of T counted after the warm-up.
    # None: the original milestones as fractions of E, times (1 - warmup_fraction):
    # 0.45 and 0.675 for the CIFAR recipe; the paper's ImageNet code used 0.297 and 0.594.
    drop_fractions: Optional[List[float]] = ranged(None, **OPEN_UNIT, increasing=True)


@dataclass
class CLRScheduleConf(ScheduleConf):
    name: str = "clr"
    max_lr_rule: str = ranged("recipe", choices=("recipe", "lrw", "value"))  # recipe: the original initial lr | lrw: lr_orig(E - T) | value: max_lr
    max_lr: Optional[float] = ranged(None, **POSITIVE)  # used when max_lr_rule == value
    pct_start: float = ranged(0.1, **OPEN_UNIT)  # fraction of iterations spent rising to max_lr
    div_factor: float = ranged(100.0, **POSITIVE)  # initial lr = max_lr / div_factor
    final_div_factor: float = ranged(100.0, **POSITIVE)  # final lr = initial lr / final_div_factor
    anneal: str = ranged("cos", choices=("cos", "linear"))  # cos | linear
    cycle_momentum: bool = True
    base_momentum: float = ranged(0.85, **FRACTION)
    max_momentum: float = ranged(0.95, low="schedule.base_momentum", high=1, high_open=True)


@dataclass
class StepScheduleConf(ScheduleConf):
    """A fixed step schedule: the retraining recipes of published methods the paper contrasts."""

    name: str = "step"
    lr: float = ranged(0.01, **POSITIVE)
    # Epochs (of T) at which lr is multiplied by gamma.
    milestones: List[int] = ranged(factory=list, low=0, high="T", low_open=True, high_open=True, increasing=True)
    milestone_fractions: List[float] = ranged(factory=list, **OPEN_UNIT, increasing=True)  # the same, as fractions of T
    gamma: float = ranged(0.1, low=0, high=1, low_open=True)


@dataclass
class DistillConf:
    """Knowledge distillation while retraining: none | kd (the teacher is the cell's dense baseline)."""

    name: str = "none"
    alpha: float = ranged(0.5, low=0, high=1)  # weight of the soft (teacher) term; (1 - alpha) weights cross-entropy
    temperature: float = ranged(4.0, **POSITIVE)  # tau: both logits divided by it, the soft term scaled by tau^2


@dataclass
class BudgetConf:
    """Retraining length: ``epochs`` T, or ``fraction`` of the original epochs E."""

    epochs: Optional[int] = ranged(None, low=1)
    fraction: Optional[float] = ranged(None, **POSITIVE)


@dataclass
class SeedConf:
    """Separate seeds per stage, so retraining can be repeated on one baseline."""

    baseline: int = ranged(0, **SEED)  # model initialisation and baseline data order
    prune: int = ranged(0, **SEED)  # random pruners' choices
    retrain: int = ranged(0, **SEED)  # retraining data order and augmentation


@dataclass
class WandbConf:
    """Weights & Biases logging; ``mode: auto`` is offline unless an API key is set."""

    mode: str = ranged("auto", choices=WANDB_MODES)  # auto | online | offline | disabled
    project: str = "pruning-retraining-benchmark"
    entity: Optional[str] = None
    init_timeout: float = ranged(60.0, **POSITIVE)  # seconds an online run waits for the server, then logs offline (same id)


@dataclass
class PlanConf:
    format: str = ranged("text", choices=("text", "json"))
    # Training img/s of one GPU for the GPU-hours estimate; null: the assumed per-model table in
    # benchmark/tasks/image_cost.py (no GPU has been measured for this suite). Not part of any identity.
    gpu_images_per_s: Optional[float] = ranged(None, **POSITIVE)
    # Language models: GPU-hours are estimated as FLOPs / (gpu_tflops x mfu); an estimate, not a measurement.
    gpu_tflops: float = ranged(312.0, **POSITIVE)  # peak dense TFLOP/s of one GPU (A100 bf16: 312)
    mfu: float = ranged(0.4, low=0, high=1, low_open=True)  # model FLOPs utilisation assumed


@dataclass
class ConvergenceConf:
    """The rule that calls a dense baseline converged (benchmark.retraining.convergence): a verdict recorded
    beside the results, never a change to what is trained."""

    final_fraction: float = ranged(0.25, low=0, high=1, low_open=True)  # the final window, as a fraction of E
    min_train_top1: float = ranged(97.0, low=0, high=100)  # % training top-1 over the final epoch
    max_late_change: float = ranged(0.5, low=0, low_open=True)  # points of validation top-1 over the window
    # A fall over the window is overfitting at the final rate, not training left undone: true counts only a rise
    # against max_late_change; false bounds the change both ways.
    fall_ok: bool = True


@dataclass
class LatencyConf:
    """Fixed protocol for the forward latency of dense and pruned models (eval, no grad)."""

    batch: int = ranged(64, low=1)
    warmup: int = ranged(3, low=0)
    repeats: int = ranged(10, low=0)  # 0 disables the measurement


@dataclass
class PathsConf:
    cache: str = "cache"  # baselines, pruned models and cells, stored by identity


@dataclass
class BenchmarkConf:
    """The whole cell: one point of the comparison grid."""

    dataset: DatasetGroup = MISSING  # DatasetConf and its image kinds | TextDatasetConf
    model: ModelGroup = MISSING  # ModelConf and its kinds | CausalLMConf
    recipe: RecipeConf = MISSING
    pruner: PrunerGroup = MISSING  # PrunerConf and its kinds | LMPrunerConf
    schedule: ScheduleConf = MISSING
    budget: BudgetConf = MISSING
    distill: DistillConf = field(default_factory=DistillConf)
    bn_recalibration: Optional[float] = ranged(None, low=0, high=1, low_open=True)  # fraction of the training set re-estimating BatchNorm statistics after pruning
    rewind_epochs: List[int] = field(default_factory=list)  # baseline epochs whose weights it keeps for schedule=wr (not identity)
    seed: SeedConf = field(default_factory=SeedConf)
    retrain: RetrainConf = field(default_factory=RetrainConf)  # language models: all | biases_norms | lora
    wandb: WandbConf = field(default_factory=WandbConf)
    plan: PlanConf = field(default_factory=PlanConf)
    paths: PathsConf = field(default_factory=PathsConf)
    latency: LatencyConf = field(default_factory=LatencyConf)
    convergence: ConvergenceConf = field(default_factory=ConvergenceConf)
    mode: str = ranged("run", choices=("run", "plan"))
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    deterministic: bool = True  # deterministic kernels where the backend offers them
    fast: bool = True  # speed path (benchmark.fastpath): bf16 autocast where native (precision=auto), CUDA channels_last; torch.compile on both
    precision: str = ranged("auto", choices=("auto", "fp32", "bf16"))  # auto: bf16 under fast on CUDA or a CPU with native bf16, else fp32
    compile_min_steps: int = ranged(2000, low=-1)  # fast path: compile a stage's training step when it runs this many steps (-1: never)
    progress: str = ranged("auto", choices=PROGRESS_MODES)  # auto (bars on a terminal, log lines otherwise) | bar | log | off


def register_configs() -> None:
    """Store every schema; called by the entry point, never at import time. (The launchers' schemas
    and the ``dirname`` resolver of sweep folders are Hydra's side: hydra_plugins/benchmark_launchers.)"""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=BenchmarkConf)
    cs.store(group="dataset", name="base_dataset", node=DatasetConf)
    cs.store(group="dataset", name="base_synthetic", node=SyntheticDatasetConf)
    cs.store(group="dataset", name="base_imagefolder", node=ImageFolderDatasetConf)
    cs.store(group="dataset", name="base_text", node=TextDatasetConf)
    cs.store(group="model", name="base_model", node=ModelConf)
    cs.store(group="model", name="base_custom", node=CustomModelConf)
    cs.store(group="model", name="base_mobilenetv2", node=MobileNetV2Conf)
    cs.store(group="model", name="base_vit", node=ViTConf)
    cs.store(group="model", name="base_causal_lm", node=CausalLMConf)
    cs.store(group="recipe", name="base_recipe", node=RecipeConf)
    cs.store(group="pruner", name="base_pruner", node=PrunerConf)
    cs.store(group="pruner", name="base_weight", node=WeightPrunerConf)
    cs.store(group="pruner", name="base_agp", node=GradualPrunerConf)
    cs.store(group="pruner", name="base_nm", node=NMPrunerConf)
    cs.store(group="pruner", name="base_torch_pruning", node=TorchPruningConf)
    cs.store(group="pruner", name="base_custom", node=CustomPrunerConf)
    cs.store(group="pruner", name="base_checkpoint", node=CheckpointPrunerConf)
    cs.store(group="pruner", name="base_lm", node=LMPrunerConf)
    cs.store(group="schedule", name="base_ft", node=FTScheduleConf)
    cs.store(group="schedule", name="base_lrw", node=LRWScheduleConf)
    cs.store(group="schedule", name="base_slr", node=SLRScheduleConf)
    cs.store(group="schedule", name="base_clr", node=CLRScheduleConf)
    cs.store(group="schedule", name="base_step", node=StepScheduleConf)
    cs.store(group="schedule", name="base_budget_aware", node=BudgetAwareScheduleConf)
    cs.store(group="schedule", name="base_wr", node=WRScheduleConf)
    cs.store(group="schedule", name="base_scratch", node=ScratchScheduleConf)
    cs.store(group="budget", name="base_budget", node=BudgetConf)
    cs.store(group="seed", name="base_seed", node=SeedConf)
    cs.store(group="distill", name="base_distill", node=DistillConf)
