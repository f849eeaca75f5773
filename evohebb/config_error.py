"""The error a wrong configuration value raises (its own module, so that what the config loader calls, such as
:mod:`evohebb.plugins`, can raise it without importing the loader back)."""


class ConfigError(ValueError):
    """A configuration value is unknown, mistyped or out of range; the message says what is allowed."""
