"""Exceptions that the CLI turns into a one-line message and exit status 2."""


class SuperalignError(Exception):
    """Base class for user-facing errors (bad input, missing asset, invalid config)."""


class ConfigError(SuperalignError):
    """An invalid configuration value, YAML file or override."""


class DataError(SuperalignError):
    """A dataset that is missing, malformed, empty or too small for the requested splits."""


class ModelError(SuperalignError):
    """A model that is unknown, missing on disk, or cannot be loaded."""
