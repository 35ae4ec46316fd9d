"""No config leaf is accepted by a task that ignores it (issue 28): every leaf that enters an
identity, perturbed to another value its schema domain accepts, is either refused by the one
validation phase in one line naming it, or changes the cell's identity. The leaves refused because
the task never reads them are exactly the task's declared ``IGNORED`` (benchmark/tasks/image.py,
text.py), so the declaration and the behaviour agree. Identity computation only: nothing trains."""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import re
import typing
from typing import Any, Dict, List, Tuple

import pytest

from benchmark import validation
from benchmark.errors import ConfigError
from benchmark.identity import EXCLUDED, HASHED, _rule, leaves
from benchmark.retraining import schedules
from benchmark.tasks import cell_identity, refuse_unread, task_of
from tests.conftest import compose_config

CONFIGS = {"image": ["+experiment=demo", "schedule=ft", "device=cpu", "precision=fp32"],
           "text": ["+experiment=demo_lm", "schedule=ft", "device=cpu"]}
# Leaves with no other value to set in isolation, and why (kept short).
SKIPPED = {
    "dataset.name": "selects the dataset's schema: another value is another option of the group (tests/test_config.py)",
    "schedule.name": "selects the schedule's schema: another value is another option of the group (tests/test_config.py)",
}
# Another value for a string (or an unset optional string) with no choices in its domain, per task.
STRINGS = {
    "image": {"model.name": ["resnet32"], "pruner.name": ["random"], "recipe.optimizer": ["adamw"],
              "recipe.shape": ["cosine"], "distill.name": ["kd"], "pruner.variant": ["pfec_a"],
              "retrain.lora.targets": [["fc1"]]},
    "text": {"model.name": ["opt-tiny-b"], "pruner.name": ["sparsegpt"], "recipe.optimizer": ["sgd"],
             "recipe.shape": ["step"], "distill.name": ["kd"], "pruner.variant": ["pfec_a"],
             "pruner.pattern": ["2:4"], "dataset.text_field": ["content"], "dataset.path": ["wikitext"],
             "dataset.subset": ["wikitext-2-raw-v1"], "dataset.tokenizer": ["bytes"], "model.revision": ["main"],
             "model.config.model_type": ["llama"], "retrain.lora.targets": [["fc1"]]},
}
# The examples of the issue: the LM regime an image cell ignored; KD's settings on a cell that refuses KD.
# (The vision knobs an LM cell ignored and hashed are no longer its leaves at all: the test below.)
EXAMPLES = {"text": {"distill.alpha", "distill.temperature"}, "image": {"retrain.params"}}
VISION_KNOBS = ("pruner.ratio", "pruner.target_reduction", "pruner.skip_layers", "pruner.taylor_batches",
                "pruner.variant", "pruner.round_to", "model.width", "model.weights", "dataset.val_size",
                "dataset.num_classes", "dataset.train_subset", "dataset.split_seed", "dataset.download")


def _owner(cfg: Any, key: str) -> Tuple[Any, str]:
    """The dataclass (or dict) holding ``key``'s last part, and that part."""
    *path, last = key.split(".")
    node = cfg
    for part in path:
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node, last


def _set(cfg: Any, key: str, value: Any) -> Any:
    changed = copy.deepcopy(cfg)
    node, last = _owner(changed, key)
    if isinstance(node, dict):
        node[last] = value
    else:
        setattr(node, last, value)
    return changed


def _hint(cfg: Any, key: str) -> Any:
    """The schema's type of ``key`` (Any for a free mapping's entry, model.config)."""
    node, last = _owner(cfg, key)
    return Any if isinstance(node, dict) else typing.get_type_hints(type(node))[last]


def _domain(cfg: Any, key: str) -> Any:
    node, last = _owner(cfg, key)
    if isinstance(node, dict):
        return None
    spec = {f.name: f for f in dataclasses.fields(node)}[last]
    return spec.metadata.get("domain")


def _numbers(value: Any, kind: type) -> List[Any]:
    if kind is int:
        return [value + 1, value - 1, 2 * value, 64, 128]
    return [value / 2 if value else 0.5, value + 0.1, 2 * value, 0.25]


def candidates(task: str, cfg: Any, key: str, value: Any) -> List[Any]:
    """Other values for ``key``, in the order tried: a flip, another choice, a number nearby, a list changed."""
    domain, hint = _domain(cfg, key), _hint(cfg, key)
    base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Union else hint
    if key in STRINGS[task]:
        found = STRINGS[task][key]
    elif domain is not None and domain.choices:
        found = list(domain.choices)
    elif isinstance(value, bool):
        found = [not value]
    elif isinstance(value, (int, float)):
        found = _numbers(value, type(value))
    elif isinstance(value, list):
        item = typing.get_args(base)[0] if typing.get_args(base) else str
        if value and isinstance(value[0], (int, float)):
            found = [value[:-1], value[:-1] + [value[-1] + 1], [value[0] * 0.9, *value[1:]]]
        else:
            found = {int: [[1], [2]], float: [[0.5, 0.5, 0.5], [0.5]]}.get(item, [["a.txt"]])
    elif value is None:  # an unset optional setting: a value of its type
        found = {int: [1, 2], float: [0.5, 0.25], bool: [True]}.get(base, [0, 1])
        if typing.get_origin(base) in (list, List):
            found = [[0.5, 0.5, 0.5], [0.5]]
    else:
        raise AssertionError(f"{key}={value!r}: no other value to try; add it to STRINGS or SKIPPED")
    return [c for c in found if c != value]


def _names(message: str, key: str) -> bool:
    """Whether a refusal names ``key`` (a ``.name`` leaf may be spelled as its group: ``distill=kd``)."""
    spellings = [key] + ([key[: -len(".name")]] if key.endswith(".name") else [])
    return any(re.search(rf"(^|[\s(]){re.escape(s)}[=:\[]", message) for s in spellings)


@functools.lru_cache(maxsize=None)
def walk(task: str) -> Dict[str, Tuple[str, Any, str]]:
    """Each hashed leaf -> (outcome, the value set, the refusal): changed | refused | ignored (refused by
    the task's refuse_ignored) | skipped. A value its domain refuses is not a perturbation: the next is tried."""
    if task == "text":
        pytest.importorskip("transformers")  # the language-model checks read the model's config
    cfg = compose_config(CONFIGS[task])
    assert task_of(cfg).name == task
    epochs = validation.validate(cfg)
    before = cell_identity(cfg, epochs, plan=True).cell  # plan: a hub name stands in for weights, nothing fetched
    found: Dict[str, Tuple[str, Any, str]] = {}
    for key, value in leaves(cfg):
        if _rule(key, HASHED) is None or _rule(key, EXCLUDED) is not None:
            continue
        if key in SKIPPED:
            found[key] = ("skipped", value, SKIPPED[key])
            continue
        refusal = None  # the first refusal naming the key; a value the phase accepts is preferred
        for other in candidates(task, cfg, key, value):
            changed = _set(cfg, key, other)
            try:
                validation.check(changed, schedules.retrain_epochs(changed.budget, changed.recipe))
            except ConfigError:
                continue  # outside its domain (or a bound it sets): not a value the schema accepts
            try:
                epochs = validation.validate(changed)
            except ConfigError as error:
                if _names(str(error), key) and refusal is None:
                    refusal = (other, changed, str(error))
                continue  # refused for another setting's sake, or refused: try another value
            after = cell_identity(changed, epochs, plan=True).cell
            found[key] = ("changed" if after != before else "UNCHANGED", other, "")
            break
        else:
            if refusal is None:
                found[key] = ("no value", value, "no other value passes the domain and the other checks")
                continue
            other, changed, message = refusal
            assert "\n" not in message, message
            try:  # read only under another option (the task's UNREAD)?
                refuse_unread(changed, importlib.import_module(type(task_of(changed)).__module__).UNREAD)
            except ConfigError as unread:
                if str(unread) == message:  # this leaf, or the option another leaf needs (recipe.optimizer)
                    found[key] = ("unread" if message.startswith(f"{key}=") else "refused", other, message)
                    continue
            try:
                task_of(changed).refuse_ignored(changed)
                found[key] = ("refused", other, message)
            except ConfigError as ignored:
                assert str(ignored) == message
                found[key] = ("ignored", other, message)
    return found


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_every_hashed_leaf_is_refused_naming_it_or_changes_the_cell_identity(task):
    outcomes = walk(task)
    bad = {key: got for key, got in outcomes.items()
           if got[0] not in ("changed", "refused", "ignored", "unread", "skipped")}
    assert bad == {}, f"accepted and ignored, or never perturbed: {bad}"
    assert {k for k, got in outcomes.items() if got[0] == "skipped"} == set(SKIPPED)


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_the_leaves_refused_as_ignored_are_exactly_the_tasks_declared_list(task):
    outcomes = walk(task)
    module = importlib.import_module(f"benchmark.tasks.{task}")
    declared = {key for key, _ in module.IGNORED}
    assert all(len(reason) >= 20 for _, reason in module.IGNORED)
    refused = {key for key, got in outcomes.items() if got[0] == "ignored"}
    hashed = {key for key in declared if _rule(key, EXCLUDED) is None}
    assert refused == hashed
    unread = {key for key, got in outcomes.items() if got[0] == "unread"}  # read only under another option
    assert all(any(key == k or (k.endswith(".") and key.startswith(k)) for k, _, _ in module.UNREAD) for key in unread)
    assert EXAMPLES[task] <= refused
    cfg = compose_config(CONFIGS[task])
    for key in declared - hashed:  # excluded from identity, ignored all the same: refused too
        value = dict(leaves(cfg))[key]
        other = {bool: not value, type(None): "w.pt"}[type(value)]
        with pytest.raises(ConfigError, match=rf"^{re.escape(key)}=\S+ is refused for .* cells, which never read it: [^\n]+$"):
            validation.validate(_set(cfg, key, other))


def test_a_language_model_config_has_no_vision_leaf_and_composing_one_fails():
    """The LM schemas share only the groups' bases with the image ones (benchmark.fields): the knobs an LM
    cell used to accept, ignore and hash are not its leaves, and Hydra refuses them when it composes."""
    from hydra.errors import ConfigCompositionException

    keys = dict(leaves(compose_config(CONFIGS["text"])))
    assert not [key for key in VISION_KNOBS if key in keys]
    image = dict(leaves(compose_config(CONFIGS["image"])))
    assert all(key in image for key in VISION_KNOBS)  # the image cell still reads every one of them
    for key in ("pruner.ratio=0.5", "model.width=0.5", "dataset.val_size=100"):
        with pytest.raises(ConfigCompositionException):
            compose_config([*CONFIGS["text"], key])


# A leaf read only under one option is refused, naming it and the option, while that option is off, and
# hashed (a new cell) while it is on. (option off, option on, the leaf set).
UNREAD_CASES = [
    (["+experiment=demo"], ["+experiment=demo", "recipe.optimizer=adamw"], "recipe.betas=[0.8,0.99]"),
    (["+experiment=demo"], ["+experiment=demo", "recipe.shape=cosine"], "recipe.min_lr=0.001"),
    (["+experiment=demo_lm"], ["+experiment=demo_lm", "pruner=sparsegpt"], "pruner.blocksize=64"),
    (["+experiment=demo_lm"], ["+experiment=demo_lm", "pruner=sparsegpt"], "pruner.dampening=0.1"),
    (["+experiment=demo_lm", "pruner=magnitude"], ["+experiment=demo_lm"], "pruner.calibration_samples=64"),
    (["+experiment=demo_lm"], ["+experiment=demo_lm", "retrain.params=lora"], "retrain.lora.rank=4"),
    (["+experiment=demo_lm"], ["+experiment=demo_lm", "dataset.source=hub", "dataset.path=wikitext"], "dataset.subset=x"),
    (["+experiment=demo_lm"], ["+experiment=demo_lm", "dataset.source=hub", "dataset.path=wikitext"],
     "dataset.text_field=body"),
    (["+experiment=demo_lm", "dataset.source=hub", "dataset.path=wikitext"], ["+experiment=demo_lm"],
     "dataset.markov.vocab=8"),
]


@pytest.mark.parametrize("off, on, setting", UNREAD_CASES, ids=[case[2].split("=")[0] for case in UNREAD_CASES])
def test_a_leaf_read_only_under_another_option_is_refused_without_it_and_hashed_with_it(off, on, setting):
    leaf = setting.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{re.escape(leaf)}=[^\n]+? is refused: [^\n]+, so this cell never reads it "
                                          rf"\(leave it at [^\n]+\)$"):
        validation.validate(compose_config([*off, setting, "device=cpu"]))
    validation.validate(compose_config([*on, setting, "device=cpu"]))  # read: accepted
    with_it = cell_identity(compose_config([*on, setting, "device=cpu"]), 2, plan=True)
    assert with_it.cell != cell_identity(compose_config([*on, "device=cpu"]), 2, plan=True).cell
