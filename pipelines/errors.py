"""Error types shared across the pipeline."""


class ConfigError(ValueError):
    """A YAML/CSV config file is invalid; the message names the file and the key."""


class IntakeError(Exception):
    """A partner file problem to report, not a crash."""
