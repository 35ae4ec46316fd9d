"""Bring your own method: a custom pruner, a custom model, released dense weights and a pruned
checkpoint from elsewhere, through the standard cell; and every bad input as one line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.utils.prune  # noqa: F401  (the bad pruners' masks)
import torch_pruning as tp

from benchmark import pruning
from benchmark.tasks import image
from benchmark.cell import run_cell
from benchmark.errors import ConfigError
from benchmark.tasks import cell_identity
from benchmark.plan import plan_cell
from benchmark.pruning.counting import count_params
from benchmark.pruning.graph import example_input, prune_graph
from examples.my_model import SmallNet

SLIM = ["pruner=custom", "pruner.function=examples.my_pruner:slim", "+pruner.kwargs.mask=0.3"]


@pytest.mark.cell
def test_custom_pruner_is_counted_cached_and_reloaded_across_schedules(tiny_cfg, tmp_path):
    ft = run_cell(tiny_cfg(*SLIM, "schedule=ft"), tmp_path / "ft").as_dict()
    lrw = run_cell(tiny_cfg(*SLIM, "schedule=lrw"), tmp_path / "lrw").as_dict()
    assert ft["status"] == lrw["status"] == "finished"
    assert ft["identity"]["pruned"] == lrw["identity"]["pruned"]
    assert ft["metrics"]["pruned_test_top1"] == lrw["metrics"]["pruned_test_top1"]  # the reloaded model, evaluated
    m = ft["model"]
    assert m["params_after"] < m["params_before"] and m["flops_after"] < m["flops_before"]
    assert m["conv_sparsity"] == pytest.approx(0.3, abs=0.01)
    saved = torch.load(tmp_path / "cache" / "pruned" / ft["identity"]["pruned"] / "model.pt", weights_only=True)
    rebuilt = pruning.rebuild(image.dense_model(tiny_cfg(*SLIM), torch.device("cpu")), saved["history"])
    rebuilt.load_state_dict(saved["state_dict"])
    assert count_params(rebuilt) == m["params_after"]


def write_module(folder, name, source):
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def test_the_pruned_identity_follows_the_callable_source_and_kwargs(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_module(tmp_path, "byom_ident", "def prune(model, x, batches, *, seed, k=1):\n    pass\n")
    base = ["pruner=custom", "pruner.function=byom_ident:prune"]
    first = cell_identity(tiny_cfg(*base), 2)
    write_module(tmp_path, "byom_ident", "def prune(model, x, batches, *, seed, k=1):\n    return None\n")
    edited = cell_identity(tiny_cfg(*base), 2)
    other_kwargs = cell_identity(tiny_cfg(*base, "+pruner.kwargs.k=2"), 2)
    assert first.baseline == edited.baseline == other_kwargs.baseline
    assert len({first.pruned, edited.pruned, other_kwargs.pruned}) == 3


BAD = """
import torch
from torch import nn

def raises(model, x, batches, *, seed):
    raise RuntimeError("out of ideas")

def nothing(model, x, batches, *, seed):
    pass

def replaces(model, x, batches, *, seed):
    model.fc = nn.Identity()

def empties(model, x, batches, *, seed):
    conv = model.layer1[0].conv1
    conv.weight = nn.Parameter(conv.weight[:0].detach())

def hooked(model, x, batches, *, seed):
    torch.nn.utils.prune.l1_unstructured(model.fc, "weight", amount=0.5)
    model.fc.register_forward_hook(lambda m, i, o: o * 2)  # state no state dict holds

def two_args(model, x):
    pass
"""


@pytest.mark.parametrize("function,message", [
    ("byom_missing_module:prune", "module 'byom_missing_module' is not found"), ("byom_bad:absent", "has no attribute"),
    ("byom_bad", "must name module:callable"), ("byom_bad:two_args", "cannot be called as"),
    ("byom_bad:raises", "raised RuntimeError: out of ideas"), ("byom_bad:nothing", "pruned nothing"),
    ("byom_bad:replaces", "removed, added or replaced layers (fc)"), ("byom_bad:empties", "removed every channel"),
    ("byom_bad:hooked", "cannot be saved and reloaded"),
])
def test_a_bad_custom_pruner_is_one_line_naming_it(tiny_cfg, tmp_path, monkeypatch, function, message):
    monkeypatch.chdir(tmp_path)
    write_module(tmp_path, "byom_bad", BAD)
    cfg = tiny_cfg("pruner=custom", f"pruner.function={function}")
    with pytest.raises(ConfigError) as info:
        model = image.dense_model(cfg, torch.device("cpu"))
        cell_identity(cfg, 2)
        pruning.prune(model, image.pruning_spec(cfg, model), seed=0)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert function in str(info.value)


UNPARSABLE = "def prune(model, x, batches, *, seed):\n    return (\n"  # line 2 opens a bracket it never closes


@pytest.mark.parametrize("what,target", [("pruner.function", "user/byom_syn_a.py:prune"),
                                         ("pruner.function", "byom_syn_b:prune"),
                                         ("model._target_", "user/byom_syn_c.py:prune"),
                                         ("model._target_", "byom_syn_d.prune")])
def test_a_syntax_error_names_its_file_and_line_whether_named_by_path_or_module(tmp_path, monkeypatch, what, target):
    from benchmark.sources import load_callable

    monkeypatch.chdir(tmp_path)
    (tmp_path / "user").mkdir()
    name = target.split("/")[-1].split(".")[0].split(":")[0]  # its own module name: earlier tests' folders stay on sys.path
    path = tmp_path / ("user" if "/" in target else ".") / f"{name}.py"
    path.write_text(UNPARSABLE)
    with pytest.raises(ConfigError) as info:
        load_callable(target, what)
    message = str(info.value)
    assert "\n" not in message and message.startswith(what)
    assert f"{path.resolve()}:2: SyntaxError" in message and "ModuleNotFoundError" not in message, message


def test_a_file_path_that_imports_resolves_and_a_missing_one_says_so(tmp_path, monkeypatch):
    from benchmark.sources import load_callable, source_fingerprint

    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "byom_by_path", raising=False)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "byom_by_path.py").write_text("def prune(model, x, batches, *, seed):\n    return 'pruned'\n")
    fn = load_callable("user/byom_by_path.py:prune", "pruner.function")
    assert fn(None, None, None, seed=0) == "pruned"
    assert source_fingerprint(fn, "pruner.function")["qualname"] == "byom_by_path.prune"
    with pytest.raises(ConfigError, match=r"file 'user/absent.py' does not exist"):
        load_callable("user/absent.py:prune", "pruner.function")
    with pytest.raises(ConfigError, match=r"must name module:callable, module.callable or path/to/file.py:callable"):
        load_callable("user/byom_by_path.py", "pruner.function")


def test_a_module_that_imports_a_missing_package_names_the_package_not_itself(tmp_path, monkeypatch):
    from benchmark.sources import load_callable

    monkeypatch.chdir(tmp_path)
    (tmp_path / "byom_needs.py").write_text("import byom_not_installed_anywhere\n")
    with pytest.raises(ConfigError) as info:
        load_callable("byom_needs:prune", "pruner.function")
    assert "module 'byom_needs' does not import: ModuleNotFoundError: No module named 'byom_not_installed_anywhere'" \
        in str(info.value)


@pytest.mark.cell
def test_a_custom_pruner_given_as_a_file_path_runs_a_cell(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "my_pruner", raising=False)
    src = Path(__file__).resolve().parent.parent / "examples" / "my_pruner.py"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "my_pruner.py").write_text(src.read_text())
    cfg = tiny_cfg("pruner=custom", "pruner.function=elsewhere/my_pruner.py:slim", "+pruner.kwargs.mask=0.3",
                   "schedule=ft", "budget.epochs=1")
    record = run_cell(cfg, tmp_path / "out").as_dict()
    assert record["status"] == "finished" and record["model"]["conv_sparsity"] == pytest.approx(0.3, abs=0.01)


def external_checkpoint(tiny_cfg, tmp_path):
    """ResNet-20 pruned "elsewhere" (here by Torch-Pruning directly), saved as tp.state_dict."""
    model = image.dense_model(tiny_cfg(), torch.device("cpu"))
    prune_graph(model, importance=tp.importance.LAMPImportance(), ratio=0.5, global_pruning=True,
                example_inputs=example_input(model))
    path = tmp_path / "elsewhere.pth"
    torch.save(tp.state_dict(model), path)
    return model, path


@pytest.mark.cell
def test_a_torch_pruning_checkpoint_is_retrained_against_the_dense_baseline(tiny_cfg, tmp_path):
    pruned, path = external_checkpoint(tiny_cfg, tmp_path)
    plan = plan_cell(tiny_cfg("pruner=checkpoint", f"pruner.path={path}"))
    assert plan["params_after"] == count_params(pruned) < plan["params_before"]
    twin = plan_cell(tiny_cfg("pruner=random", f"pruner.widths_from={path}"))
    assert twin["params_after"] == count_params(pruned)
    record = run_cell(tiny_cfg("pruner=checkpoint", f"pruner.path={path}", "schedule=ft"), tmp_path / "out").as_dict()
    assert record["status"] == "finished" and record["model"]["params_after"] == count_params(pruned)
    assert record["model"]["params_before"] == plan["params_before"]  # the dense baseline is the reference
    saved = torch.load(tmp_path / "cache" / "pruned" / record["identity"]["pruned"] / "model.pt", weights_only=True)
    assert all(torch.equal(saved["state_dict"][k], v) for k, v in pruned.state_dict().items())


def test_the_checkpoint_identity_is_its_content_not_its_path(tiny_cfg, tmp_path):
    _, path = external_checkpoint(tiny_cfg, tmp_path)
    copy = tmp_path / "copy.pth"
    copy.write_bytes(path.read_bytes())
    a, b = (cell_identity(tiny_cfg("pruner=checkpoint", f"pruner.path={p}"), 2) for p in (path, copy))
    assert a == b
    copy.write_bytes(path.read_bytes() + b"\0")
    assert cell_identity(tiny_cfg("pruner=checkpoint", f"pruner.path={copy}"), 2).pruned != a.pruned


def test_a_plain_state_dict_of_a_pruned_architecture_loads_through_its_target(tiny_cfg, tmp_path):
    small = SmallNet(10, width=4)
    torch.save(small.state_dict(), tmp_path / "small.pt")
    plan = plan_cell(tiny_cfg("model=custom", "model._target_=examples.my_model.SmallNet", "+model.kwargs.width=8",
                              "pruner=checkpoint", f"pruner.path={tmp_path / 'small.pt'}",
                              "+pruner.architecture._target_=examples.my_model.SmallNet",
                              "+pruner.architecture.width=4"))
    assert plan["params_after"] == count_params(small) and plan["params_before"] == count_params(SmallNet(10, 8))


@pytest.mark.parametrize("content,message", [(b"not a checkpoint", "not a readable torch checkpoint"),
                                             ("truncated", "not a readable torch checkpoint"),
                                             (None, "does not fit CifarResNet: unexpected layer1.3")])
def test_a_checkpoint_that_does_not_fit_is_one_line(tiny_cfg, tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content is None or content == "truncated":  # a ResNet-32 checkpoint for the ResNet-20, or half a file
        torch.save(image.dense_model(tiny_cfg("model=resnet32"), torch.device("cpu")).state_dict(), path)
        if content == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        plan_cell(tiny_cfg("pruner=checkpoint", f"pruner.path={path}"))
    assert "\n" not in str(info.value)


MOBILENET = ["model=custom", "model._target_=torchvision.models.mobilenet_v2", "+model.kwargs.width_mult=0.25"]


@pytest.mark.parametrize("pruner", [["pruner=l1"], ["pruner=random"], ["pruner=torch_pruning"],
                                    ["pruner=mwp"], SLIM])
def test_torchvision_mobilenet_v2_takes_every_pruner(tiny_cfg, pruner):
    cfg = tiny_cfg(*MOBILENET, *pruner)
    model = image.dense_model(cfg, torch.device("cpu"))
    params = count_params(model)
    spec = image.pruning_spec(cfg, model)
    pruning.prune(model, spec, seed=0, batches=lambda: iter([(torch.randn(4, 3, 32, 32), torch.arange(4))]))
    assert count_params(model) < params
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.cell
def test_mobilenet_v2_runs_a_whole_cell_with_a_taylor_importance(tiny_cfg, tmp_path):
    record = run_cell(tiny_cfg(*MOBILENET, "pruner=torch_pruning", "pruner.taylor_batches=2",
                               "pruner.importance._target_=torch_pruning.importance.TaylorImportance",
                               "recipe.epochs=1", "recipe.milestones=[]", "budget.epochs=1"), tmp_path / "out").as_dict()
    assert record["status"] == "finished" and record["model"]["params_after"] < record["model"]["params_before"]


@pytest.mark.cell
def test_a_user_model_from_a_file_outside_the_package_trains_and_prunes(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_module(tmp_path, "byom_user_net", """
        from torch import nn

        def net(num_classes, hidden=8):
            return nn.Sequential(nn.Conv2d(3, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(hidden, num_classes))
    """)
    record = run_cell(tiny_cfg("model=custom", "model._target_=byom_user_net.net", "+model.kwargs.hidden=12",
                               "pruner=l1", "pruner.ratio=0.5"), tmp_path / "out").as_dict()
    assert record["status"] == "finished"
    assert record["model"]["params_before"] == 3 * 12 * 9 + 12 + 24 + 12 * 10 + 10
    assert record["model"]["params_after"] == 3 * 6 * 9 + 6 + 12 + 6 * 10 + 10


@pytest.mark.cell
def test_released_dense_weights_are_loaded_measured_and_hashed(tiny_cfg, tmp_path):
    trained = run_cell(tiny_cfg("schedule=ft"), tmp_path / "trained").as_dict()
    weights = torch.load(tmp_path / "cache" / "baselines" / trained["identity"]["baseline"] / "model.pt",
                         weights_only=True)["state_dict"]
    torch.save({"state_dict": weights}, tmp_path / "released.pt")
    loaded = run_cell(tiny_cfg("schedule=ft", f"model.weights={tmp_path / 'released.pt'}"), tmp_path / "loaded").as_dict()
    assert loaded["model"]["baseline_source"] == "loaded" and trained["model"]["baseline_source"] == "trained"
    assert loaded["model"]["baseline_weights"]["sha256"]
    assert loaded["identity"]["baseline"] != trained["identity"]["baseline"]
    # The same weights, measured again rather than copied: the same accuracy and the same pruned model.
    assert loaded["metrics"]["baseline_test_top1"] == trained["metrics"]["baseline_test_top1"]
    assert loaded["metrics"]["pruned_test_top1"] == trained["metrics"]["pruned_test_top1"]
    meta = json.loads((tmp_path / "cache" / "baselines" / loaded["identity"]["baseline"] / "meta.json").read_text())
    assert meta["history"] == [] and meta["source"] == "loaded"


def test_mismatched_dense_weights_name_the_first_keys(tiny_cfg, tmp_path):
    torch.save(image.dense_model(tiny_cfg("model=resnet32"), torch.device("cpu")).state_dict(), tmp_path / "w.pt")
    with pytest.raises(ConfigError, match=r"unexpected layer1\.3\.conv1\.weight, .* \(\+\d+ more\)") as info:
        plan_cell(tiny_cfg(f"model.weights={tmp_path / 'w.pt'}"))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("overrides,message", [
    (["pruner=custom", "pruner.function=byom_bad:raises"], "error: pruner.function='byom_bad:raises' raised RuntimeError"),
    (["model=custom", "model._target_=byom_nowhere.Net"], "error: model._target_='byom_nowhere.Net': module"),
    (["pruner=checkpoint", "pruner.path=missing.pt"], "error: pruner.path='missing.pt' is not a file"),
])
@pytest.mark.subprocess
def test_bad_input_through_the_entry_point_is_one_line_exit_2_and_nothing_half_written(tmp_path, overrides, message):
    import subprocess
    import sys

    from tests.conftest import REPO, TINY, TINY_DATA

    write_module(tmp_path, "byom_bad", BAD)
    done = subprocess.run([sys.executable, str(REPO / "benchmark" / "run.py"), *TINY_DATA, *TINY, *overrides,
                           f"paths.cache={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'out'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), done.stderr[-1500:]
    assert not list((tmp_path / "cache").rglob("pruned/*/model.pt"))
    assert not [p for p in (tmp_path / "cache").rglob("cells/*/*") if p.name != ".lock"]  # a stage's lock is no artefact
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_plan_mode_says_a_custom_pruners_counts_come_once_it_has_run(tiny_cfg, tmp_path):
    from benchmark.plan import format_plan

    plan = plan_cell(tiny_cfg(*SLIM))
    assert plan["params_after"] is None and plan["counts_exact"] is False
    assert "known once the pruner has run" in format_plan(plan, "text")
