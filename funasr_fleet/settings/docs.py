"""
Writes what is generated from the knob declarations (settings/knobs.py):
group_data/all.py (every knob, its comment and default) and the knob tables of README.md
(English) and README.zh-CN.md (Simplified Chinese), each between the
``<!-- knobs:begin -->`` and ``<!-- knobs:end -->`` markers. Both tables have the same rows,
knob names and defaults; only the header and the meaning column are in each language.

    python -m funasr_fleet.settings.docs            # write all three
    python -m funasr_fleet.settings.docs --check    # exit 1 if any differs (what the unit test checks)
"""

import argparse
import json
import sys
from pathlib import Path

from .knobs import DECLARATIONS, PREFIXES, Knob, Section

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- knobs:begin -->", "<!-- knobs:end -->"
WIDTH = 100  # group_data/all.py: a value longer than this is split over lines

PREAMBLE = f"""\
# funasr-fleet: every knob, with its default. The one place to look them up.
#
# Layers, lowest precedence first: this file < group_data/<group>.py (and group data in
# the inventory) < host data in the inventory < `--data key=value` on the command line.
# funasr_hotwords and funasr_models merge across layers entry by entry; every other
# knob is replaced whole by a higher layer. Keys starting with {', '.join(PREFIXES)}
# that are not listed here are rejected (typos do not pass silently); other keys are
# left to whatever else reads the inventory.
#
# Generated from funasr_fleet/settings/knobs.py (each knob's type, default, checker and
# this comment, declared once): edit a knob there, then run
#   python -m funasr_fleet.settings.docs
"""


def literal(value):
    """``value`` as Python source, strings in double quotes as an operator writes them."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(key)}: {literal(item)}" for key, item in value.items()) + "}"
    return repr(value)


def _assignment(name, value):
    """``name = value``: on one line when it fits, else a dict one entry a line (nested
    dicts the same way, the innermost split after a comma under its opening brace)."""
    line = f"{name} = {literal(value)}"
    if len(line) <= WIDTH or not isinstance(value, dict):
        return line
    return f"{name} = {_block(value, 0)}"


def _block(value, indent):
    pad = " " * (indent + 4)
    lines = ["{"]
    for key, item in value.items():
        head = f"{pad}{literal(key)}: "
        text = literal(item)
        if len(head) + len(text) + 1 <= WIDTH or not isinstance(item, dict):
            lines.append(f"{head}{text},")
        elif all(not isinstance(inner, dict) for inner in item.values()):
            entries = [f"{literal(k)}: {literal(v)}" for k, v in item.items()]
            align = "\n" + " " * (len(head) + 1)
            lines.append(f"{head}{{" + f",{align}".join(entries) + "},")
        else:
            lines.append(f"{head}{_block(item, indent + 4)},")
    lines.append(" " * indent + "}")
    return "\n".join(lines)


def _comment(text):
    return "".join(f"# {line}".rstrip() + "\n" for line in text.splitlines())


def render_all_py():
    """The text of group_data/all.py."""
    parts = [PREAMBLE]
    for item in DECLARATIONS:
        if isinstance(item, Section):
            parts.append(f"\n# {'-' * 64} {item.title}\n" + _comment(item.intro))
        else:
            parts.append(_comment(item.doc) + _assignment(item.name, item.default) + "\n")
    return "".join(parts)


def _rows():
    """The README rows: each a list of knobs, a knob with no meaning joining the row above."""
    rows = []
    for knob in (item for item in DECLARATIONS if isinstance(item, Knob)):
        if knob.meaning or not rows:
            rows.append([knob])
        else:
            rows[-1].append(knob)
    return rows


def _shown(knob):
    return knob.shown or f"`{literal(knob.default)}`"


# The knob table of each README: its file, header row and the declaration field that
# holds the meaning column.
READMES = {
    "en": ("README.md", ("knob", "default", "meaning"), "meaning"),
    "zh": ("README.zh-CN.md", ("配置项", "默认值", "含义"), "meaning_zh"),
}


def render_readme_table(language="en"):
    """A README's knob table (header and one row per knob or group of knobs): ``"en"`` for
    README.md, ``"zh"`` for README.zh-CN.md."""
    _, header, field = READMES[language]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---|"]
    for row in _rows():
        names = ", ".join(f"`{knob.name}`" for knob in row)
        lines.append(f"| {names} | {', '.join(_shown(knob) for knob in row)} | {getattr(row[0], field)} |")
    return "\n".join(lines) + "\n"


def with_readme_table(readme, language="en"):
    """``readme`` (the text of the ``language`` README) with the text between the markers
    replaced by the generated table."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ValueError(f"{READMES[language][0]} must hold {BEGIN} and then {END} once each")
    head, rest = readme.split(BEGIN)
    tail = rest.split(END)[1]
    return f"{head}{BEGIN}\n{render_readme_table(language)}{END}{tail}"


def generated(root=REPO):
    """``{path: (text now, text generated)}`` for every generated file under ``root``."""
    all_py = Path(root, "group_data", "all.py")
    files = {all_py: (all_py.read_text(encoding="utf-8") if all_py.exists() else "", render_all_py())}
    for language, (name, _, _) in READMES.items():
        readme = Path(root, name)
        now = readme.read_text(encoding="utf-8") if readme.exists() else ""
        files[readme] = (now, with_readme_table(now, language))
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m funasr_fleet.settings.docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")
    parser.add_argument("--root", default=REPO, help="the repository (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        files = generated(args.root)
    except ValueError as error:  # a README without its markers: nothing to write into
        print(error, file=sys.stderr)
        return 1
    stale = [path for path, (now, new) in files.items() if now != new]
    if args.check:
        for path in stale:
            print(f"{path} differs from the knob declarations; run python -m funasr_fleet.settings.docs",
                  file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path][1], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
