"""The one exception type for bad input, and the one way it reaches the user: a single line."""

from __future__ import annotations

import sys
from typing import NoReturn


class ConfigError(ValueError):
    """Bad input that must stop the run before any training, shown as one line."""


def exit_on(error: ConfigError) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with status 2 (a usage error, as argparse's).

    Used by the entry point and by the grid sweeper, which runs inside Hydra before any cell: an
    exception there would reach the user as Hydra's traceback instead of one line."""
    print(f"error: {error}", file=sys.stderr, flush=True)
    sys.exit(2)
