"""The one exception type for bad input; the entry point prints it as a single line."""


class ConfigError(ValueError):
    """Bad input that must stop the run before any training, shown as one line."""
