"""The one exception type that means "the user gave bad input"; the CLI prints it as one line, exit 1."""


class PoseCliError(Exception):
    """Bad input or an unusable environment, described in one line that names the file and field."""
