"""README.md and README.zh-CN.md say the same things: the same commands, the same knobs,
the same sections and links. Prose is translated; commands, knob names and paths are not,
so a command or knob that one README mentions and the other does not is drift.

What counts (outside the generated knob tables, which test_knob_docs.py checks):
- commands: every line of a ```sh block (its trailing ``# comment`` dropped, since comments
  are translated), and every inline code span that starts with a command (``make``,
  ``pyinfra``, ``funasr-fleet``, ``python``, ``docker`` ...);
- knobs: every knob name (settings/knobs.py) mentioned anywhere;
- structure: the levels of the ``##`` and ``###`` headings in order, the fenced blocks of
  every other kind (yaml and python without their comments, the paths of the layout block,
  others whole), and the links to files of the repository.
"""

import re

import pytest

from funasr_fleet.settings import KNOBS, docs
from helpers import REPO

EN, ZH = "README.md", "README.zh-CN.md"
COMMAND = re.compile(r"(make|pyinfra|funasr-fleet|python3?|pip|docker|nft|systemctl|ssh|cat|\.venv/bin/\S+)(\s|$)")
FENCE = re.compile(r"^[ \t]*```([\w-]*)\n(.*?)^[ \t]*```$", re.M | re.S)  # also inside list items
KNOB = re.compile(r"\b(?:funasr|docker|nvidia)_[a-z0-9_]+\b")
LINK = re.compile(r"\]\((?!https?://|#)([^)\s]+)\)")


def read(name):
    return (REPO / name).read_text(encoding="utf-8")


def without_knob_table(text):
    """The README without the generated knob table (its knob names are in both by construction)."""
    head, rest = text.split(docs.BEGIN)
    return head + rest.split(docs.END)[1]


def _uncommented(line, marker="#"):
    """``line`` without a trailing comment (`` # ...``), whitespace collapsed."""
    return " ".join(re.split(rf"\s{re.escape(marker)}\s|\s{re.escape(marker)}$", f" {line} ")[0].split())


def commands(text):
    """Every command the README shows: the lines of its sh blocks and the inline code spans
    that start with a command."""
    text = without_knob_table(text)
    found = set()
    for language, body in FENCE.findall(text):
        if language == "sh":
            found.update(line for line in map(_uncommented, body.splitlines()) if line)
    prose = FENCE.sub("", text)
    found.update(" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose) if COMMAND.match(span))
    return found


def knobs(text):
    """Every knob the README names outside the generated table."""
    return set(KNOB.findall(without_knob_table(text))) & set(KNOBS)


def other_blocks(text):
    """The fenced blocks that are not commands (configuration, output, layout), comments dropped:
    the same in both languages."""
    blocks = []
    for language, body in FENCE.findall(without_knob_table(text)):
        if language == "sh":
            continue
        if language in ("python", "yaml"):  # code: its comments are translated
            lines = [_uncommented(line) for line in body.splitlines() if not line.lstrip().startswith("#")]
        elif language == "text":  # the layout: its paths (first column) are not translated
            lines = [line.split()[0] for line in body.splitlines() if line and not line[0].isspace()]
        else:
            lines = body.splitlines()
        blocks.append((language, tuple(line for line in lines if line)))
    return blocks


def headings(text):
    return [len(marks) for marks in re.findall(r"^(#{2,3}) ", FENCE.sub("", text), re.M)]


def links(text):
    return set(LINK.findall(text)) - {EN, ZH}


def difference(extract, en_text, zh_text):
    """``(only in README.md, only in README.zh-CN.md)`` of what ``extract`` finds."""
    en, zh = extract(en_text), extract(zh_text)
    return sorted(en - zh), sorted(zh - en)


@pytest.mark.parametrize("extract", [commands, knobs, links], ids=["commands", "knobs", "links"])
def test_both_readmes_list_the_same(extract):
    only_en, only_zh = difference(extract, read(EN), read(ZH))
    assert (only_en, only_zh) == ([], []), (
        f"{extract.__name__} only in {EN}: {only_en}; only in {ZH}: {only_zh}")


def test_both_readmes_have_the_same_sections_and_blocks():
    en, zh = read(EN), read(ZH)
    assert headings(en) == headings(zh)
    assert other_blocks(en) == other_blocks(zh)


def test_each_readme_links_to_the_other_at_the_top():
    assert f"]({ZH})" in "\n".join(read(EN).splitlines()[:5])
    assert f"]({EN})" in "\n".join(read(ZH).splitlines()[:5])


def test_the_readmes_lead_with_the_two_commands():
    for name in (EN, ZH):
        first_block = FENCE.search(read(name))
        assert first_block.group(1) == "sh", name
        assert [_uncommented(line) for line in first_block.group(2).splitlines()] == ["make demo", "make test"]


def test_what_is_compared_is_substantial():
    text = read(EN)
    assert {"make demo", "make test", "pyinfra -y inventory/prod.py deploy.py",
            "funasr-fleet xiaozhi-config inventory/prod.py", "make prove-faults"} <= commands(text)
    assert {"funasr_profile", "funasr_hotwords", "funasr_tls", "funasr_allow_from",
            "funasr_lb_drain_timeout", "docker_source"} <= knobs(text)


@pytest.mark.parametrize("edit, extract", [
    (lambda text: text.replace("funasr-fleet models fetch inventory/prod.py", "", 1), commands),
    (lambda text: text.replace("`make prove-faults`", "`make prove`", 1), commands),
    (lambda text: text.replace("`funasr_lb_drain_timeout`", "the drain timeout"), knobs),
    (lambda text: text.replace("](docs/faults.md)", "](docs/fault.md)"), links),
], ids=["command-line-deleted", "inline-command-changed", "knob-dropped", "link-changed"])
def test_the_comparison_catches_an_edit_to_one_readme(edit, extract):
    en, zh = read(EN), read(ZH)
    assert edit(zh) != zh, "the edit must change the Chinese README"
    assert difference(extract, en, edit(zh)) != ([], [])
