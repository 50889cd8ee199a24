"""Secrets the data names by where they are (a control-node file), never by value."""

from pathlib import Path


def read_secret(path):
    """The secret a control-node file holds: its text without the trailing newline.

    + path: the file, e.g. ``funasr_registry_password_file``

    Raises ValueError naming the path and the fix, never the content, when the file
    cannot be read or is empty.

    **Example:**

    .. code:: python

        password = read_secret("/root/.config/funasr-fleet/registry-password")
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    except OSError as error:
        reason = error.strerror or type(error).__name__
    else:
        if text.rstrip("\r\n"):
            return text.rstrip("\r\n")
        reason = "empty"
    raise ValueError(f"cannot read a password from {path} on the control node ({reason}); make it a "
                     "readable file holding the password (mode 600, owned by the user running "
                     "pyinfra), or set it to ''")
