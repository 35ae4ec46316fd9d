"""A user's code and files: importing a named callable, and the fingerprints that enter identities.

Everything a researcher brings (a pruner callable, a model constructor, dense weights, a
pruned checkpoint) is named in the config by a dotted path or a file. Its *content* enters
the identity of the stage it changes: the callable's qualified name and the SHA-256 of its
module's source file, or the SHA-256 of the file, so an edited pruner or a replaced
checkpoint is never served from a stale cache. Every failure is one ``ConfigError`` line
naming the value and the problem.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Tuple

from benchmark.errors import ConfigError


def sha256_file(path: str, what: str) -> str:
    """Hex SHA-256 of a file's bytes; a missing or unreadable file is one line naming ``what``."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise ConfigError(f"{what}={path!r} cannot be read: {error.strerror or error}") from None
    return digest.hexdigest()


def _split(target: str, what: str) -> Tuple[str, str]:
    """(module or file, attribute path) of ``module:attr``, ``module.attr`` or ``path/to/file.py:attr``."""
    if ":" in target:
        where, _, attr = target.rpartition(":")
    elif _is_file(target.rpartition(".")[0]) or target.endswith(".py"):
        where, attr = target, ""  # a file needs the colon: a dot would be ambiguous with its suffix
    else:
        where, _, attr = target.rpartition(".")
    if not where or not attr:
        raise ConfigError(f"{what}={target!r} must name module:callable, module.callable or path/to/file.py:callable")
    return where, attr


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def _reason(error: BaseException) -> str:
    """What went wrong in one line, with the file and line of a syntax error."""
    if isinstance(error, SyntaxError):
        return f"{error.filename}:{error.lineno}: SyntaxError: {error.msg}"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def _import_module(name: str, target: str, what: str) -> ModuleType:
    """The module named ``name``, from the working directory or ``PYTHONPATH``."""
    cwd = os.getcwd()
    if cwd not in sys.path:  # `python benchmark/run.py` does not put the working directory on the path
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and (name == error.name or name.startswith(error.name + ".")):
            raise ConfigError(f"{what}={target!r}: module {error.name!r} is not found on the working directory "
                              "or PYTHONPATH (a file is named path/to/file.py:callable)") from None
        raise ConfigError(f"{what}={target!r}: module {name!r} does not import: {_reason(error)}") from None
    except Exception as error:  # the user's module raised while importing, or does not parse
        raise ConfigError(f"{what}={target!r}: module {name!r} does not import: {_reason(error)}") from None


def _import_file(path: str, target: str, what: str) -> ModuleType:
    """The module defined by the file ``path``, registered under its file name's stem (as it would
    be with its folder on ``PYTHONPATH``), so the identity's qualified name is the same either way."""
    file = Path(path).resolve()
    if not file.is_file():
        raise ConfigError(f"{what}={target!r}: file {path!r} does not exist")
    name = file.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) and Path(loaded.__file__).resolve() == file:
        return loaded
    if loaded is not None:
        raise ConfigError(f"{what}={target!r}: a module named {name!r} is already imported from "
                          f"{getattr(loaded, '__file__', 'elsewhere')}; rename the file")
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{what}={target!r}: {path!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ConfigError(f"{what}={target!r}: file {path!r} does not import: {_reason(error)}") from None
    return module


def load_callable(target: str, what: str) -> Callable:
    """The callable named ``module:attr`` or ``module.attr`` (importable from the working
    directory or ``PYTHONPATH``), or ``path/to/file.py:attr`` (a file, relative to the working
    directory). A file or module that does not parse fails with its file, line and "SyntaxError"."""
    where, attr = _split(target, what)
    module = _import_file(where, target, what) if _is_file(where) else _import_module(where, target, what)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what}={target!r}: {where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{what}={target!r} is not callable")
    return obj


def source_fingerprint(obj: Callable, what: str) -> Dict[str, str]:
    """Qualified name of a callable and the SHA-256 of the source file that defines it."""
    module = inspect.getmodule(obj)
    try:
        source = inspect.getsourcefile(module) if module is not None else None
    except TypeError:  # a built-in module has no source file
        source = None
    qualname = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    return {"qualname": qualname, "source_sha256": sha256_file(source, what) if source else "built-in"}


def file_fingerprint(path: str, what: str) -> Dict[str, str]:
    """The SHA-256 of a file (its name is not part of the identity: a copy is the same file)."""
    if not Path(path).is_file():
        raise ConfigError(f"{what}={path!r} is not a file")
    return {"sha256": sha256_file(path, what)}
