"""Read files and directories: type, mode, owner and content digest."""

import shlex

from pyinfra.api import FactBase


class PathStates(FactBase):
    """
    Type, mode, owner and (for regular files) sha256 of several paths, in one command.

    Returns ``{path: {"type": "file"|"directory"|"other", "mode": "644", "owner": "root",
    "group": "root", "sha256": "..." or None}}``; missing paths are absent.

    .. code:: python

        host.get_fact(PathStates, paths=["/opt/funasr", "/opt/funasr/compose.yaml"])
    """

    def command(self, paths):
        quoted = " ".join(shlex.quote(path) for path in paths)
        return (
            f"for p in {quoted}; do "
            'if [ -f "$p" ]; then printf "F\\t%s\\t%s\\t%s\\n" "$(stat --printf "%a\\t%U\\t%G" -- "$p")" '
            '"$(sha256sum -- "$p" | cut -d" " -f1)" "$p"; '
            'elif [ -e "$p" ]; then printf "%s\\t%s\\t-\\t%s\\n" "$([ -d "$p" ] && echo D || echo O)" '
            '"$(stat --printf "%a\\t%U\\t%G" -- "$p")" "$p"; fi; done'
        )

    def process(self, output):
        kinds = {"F": "file", "D": "directory", "O": "other"}
        states = {}
        for line in output:
            kind, mode, owner, group, sha256, path = line.split("\t", 5)
            states[path] = {
                "type": kinds[kind],
                "mode": mode,
                "owner": owner,
                "group": group,
                "sha256": None if sha256 == "-" else sha256,
            }
        return states

    def default(self):
        return {}
