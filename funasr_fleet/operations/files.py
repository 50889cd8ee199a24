"""Manage files and directories: content, mode and owner, with a backup of the previous files."""

from io import BytesIO

from pyinfra import host
from pyinfra.api import HiddenValue, StringCommand, operation
from pyinfra.api.command import FileUploadCommand, QuoteString
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import generate_color_diff

from ..digest import sha256_bytes
from ..facts.batch import read, reads
from ..facts.files import PathStates


def _managed_paths_read(directories=(), files=(), **_):
    """The `PathStates` read of `managed_paths`."""
    return PathStates, {"paths": [path for path, _ in directories] + [path for path, _, _ in files]}


@reads(lambda *args, **kwargs: [_managed_paths_read(*args, **kwargs)])
@operation()
def managed_paths(directories=(), files=(), backup_dir=None):
    """
    Make directories and file contents, modes and owners exactly as given (owner root).

    + directories: ``(path, mode)`` pairs, created with parents
    + files: ``(path, content, mode)`` triples; content is ``str``, ``bytes``, or a
      ``pyinfra.api.HiddenValue`` holding either, for secrets (private keys)
    + backup_dir: when a file's content is about to change, the current versions of all
      ``files`` that exist are first copied here (the copy replaces the old backup by
      rename), e.g. to keep the previous release

    One fact reads every path; only files whose sha256 or mode differ are uploaded
    (to a temporary name, then renamed into place, so readers never see half a file).
    Contents are never printed or diffed, in ``--dry`` or otherwise; a secret passed as a
    ``HiddenValue`` also stays masked where pyinfra shows an operation's arguments.

    **Example:**

    .. code:: python

        managed_paths(
            name="FunASR service files",
            directories=[("/opt/funasr", "755")],
            files=[("/opt/funasr/hotwords.txt", "阿里巴巴 20\\n", "644")],
        )
    """
    fact, kwargs = _managed_paths_read(directories, files)
    states = read(fact, **kwargs)
    for path, mode in directories:
        state = states.get(path)
        if state is None or state["type"] != "directory":
            yield StringCommand("mkdir", "-p", "-m", mode, QuoteString(path))
        if state is None or state["mode"] != mode or (state["owner"], state["group"]) != ("root", "root"):
            yield StringCommand("chmod", mode, QuoteString(path), "&&",
                                "chown", "root:root", QuoteString(path))
    changing = [path for path, content, _ in files
                if (states.get(path) or {}).get("sha256") != sha256_bytes(_file_bytes(content))]
    existing = [path for path, _, _ in files if path in states]
    if backup_dir and changing and existing:
        yield _backed_up(existing, backup_dir)
    for path, content, mode in files:
        state = states.get(path)
        if path in changing:
            if not isinstance(content, HiddenValue):  # secrets are never diffed
                show_diff(path, _file_bytes(content))
            temporary = f"{path}.funasr-fleet-new"
            yield FileUploadCommand(BytesIO(_file_bytes(content)), temporary)
            yield StringCommand("chmod", mode, QuoteString(temporary), "&&", "chown", "root:root",
                                QuoteString(temporary), "&&", "mv", "-f", QuoteString(temporary),
                                QuoteString(path))
        elif state["mode"] != mode or (state["owner"], state["group"]) != ("root", "root"):
            yield StringCommand("chmod", mode, QuoteString(path), "&&",
                                "chown", "root:root", QuoteString(path))


def show_diff(path, new):
    """With pyinfra's ``--diff``: log a unified diff of the host's ``path`` against ``new``
    (bytes), the way pyinfra's own file operations do (one more command: the file's
    contents). Call it only for files that are not secret."""
    if not host.state.config.DIFF:
        return
    current = host.get_fact(FileContents, path=path)
    host.log(f"Will modify {path}" if current is not None else f"Will create {path}")
    for line in generate_color_diff([line + "\n" for line in current or []],
                                    new.decode("utf-8", "replace").splitlines(keepends=True)):
        host.log(f"  {line}")


def _file_bytes(content):
    """The bytes of a `managed_paths` file content (``str``, ``bytes`` or a ``HiddenValue``)."""
    if isinstance(content, HiddenValue):
        content = content.unmask()
    return content.encode("utf-8") if isinstance(content, str) else content


def _backed_up(paths, backup_dir):
    """Copy ``paths`` (absolute, keeping modes) under a fresh ``backup_dir``, swapped in by
    rename; `backup_restored` puts them back."""
    staging = QuoteString(f"{backup_dir}.new")
    return StringCommand("rm", "-rf", staging, "&&", "mkdir", "-m", "700", staging, "&&",
                         "cp", "-p", "--parents", *map(QuoteString, paths), staging, "&&",
                         "rm", "-rf", QuoteString(backup_dir), "&&", "mv", staging, QuoteString(backup_dir))


def backup_restored(backup_dir):
    """Command putting the files a `managed_paths` backup holds back where they were."""
    return StringCommand("cd", QuoteString(backup_dir), "&&", "find", ".", "-type", "f", "-exec",
                         "cp", "-p", "--parents", "-t", "/", "{}", "+")
