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
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict

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


def load_callable(target: str, what: str) -> Callable:
    """The callable named ``module:attr`` (or ``module.attr``), importable from the working
    directory or ``PYTHONPATH``."""
    module_name, sep, attr = target.partition(":") if ":" in target else target.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"{what}={target!r} must name module:callable")
    cwd = os.getcwd()
    if cwd not in sys.path:  # `python benchmark/run.py` does not put the working directory on the path
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # a syntax error in the user's file is as much "does not import"
        raise ConfigError(f"{what}={target!r}: module {module_name!r} does not import "
                          f"({type(error).__name__}: {' '.join(str(error).split())[:200]})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what}={target!r}: {module_name!r} has no attribute {attr!r}")
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
