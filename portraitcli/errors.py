"""Errors that reach the user as one line: `portraitcli: FILE: reason`."""
from __future__ import annotations


class PortraitError(Exception):
    """A failure with a message fit for the user (no traceback needed)."""


class InputError(PortraitError):
    """An input that cannot be read or processed; the rest of a batch goes on."""


class ModelError(PortraitError):
    """The ONNX model is missing, corrupt or of the wrong shape."""


class ExternalToolError(PortraitError):
    """ffmpeg (or another child process) failed; carries its last error lines."""


class UsageError(PortraitError):
    """A command line that cannot work as given (exit 2)."""
