"""group_data/all.py and the README's knob table are generated from the knob declarations
(settings/knobs.py); each test here fails when a file drifts from them."""

import dataclasses
import runpy
import shutil

import pytest

from funasr_fleet.settings import DEFAULTS, KNOB_DECLARATIONS, docs, knobs
from helpers import REPO


def test_group_data_all_py_is_the_generated_one():
    assert (REPO / "group_data" / "all.py").read_text(encoding="utf-8") == docs.render_all_py(), \
        "group_data/all.py drifted from settings/knobs.py: run python -m funasr_fleet.settings.docs"


def test_the_readme_knob_table_is_the_generated_one():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme == docs.with_readme_table(readme), \
        "README.md's knob table drifted from settings/knobs.py: run python -m funasr_fleet.settings.docs"


def test_the_generated_all_py_gives_the_declared_defaults_in_order(tmp_path):
    path = tmp_path / "all.py"
    path.write_text(docs.render_all_py(), encoding="utf-8")
    data = {key: value for key, value in runpy.run_path(str(path)).items() if not key.startswith("__")}
    assert list(data) == list(DEFAULTS) and data == DEFAULTS


def test_every_knob_has_a_readme_row_and_a_comment_in_all_py():
    rows = docs.render_readme_table()
    assert [knob.name for knob in KNOB_DECLARATIONS if f"`{knob.name}`" not in rows] == []
    assert KNOB_DECLARATIONS[0].meaning and KNOB_DECLARATIONS[0].doc  # nothing to share with
    for knob in KNOB_DECLARATIONS:
        assert "\n" not in knob.meaning and "|" not in knob.meaning, knob.name


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "group_data").mkdir()
    shutil.copy(REPO / "group_data" / "all.py", tmp_path / "group_data" / "all.py")
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    return tmp_path


@pytest.mark.parametrize("path, edit", [
    ("group_data/all.py", lambda text: text.replace("funasr_port = 10095", "funasr_port = 10096")),
    ("group_data/all.py", lambda text: text + "funasr_extra = 1\n"),
    ("README.md", lambda text: text.replace("| `funasr_port` |", "| `funasr_port`, `funasr_extra` |")
                                   .replace("| server threads |", "| threads |")),
])
def test_the_check_fails_on_a_hand_edited_file_and_the_generator_repairs_it(checkout, path, edit, capsys):
    assert docs.main(["--check", "--root", str(checkout)]) == 0
    target = checkout / path
    target.write_text(edit(target.read_text(encoding="utf-8")), encoding="utf-8")
    assert docs.main(["--check", "--root", str(checkout)]) == 1
    assert f"{target} differs from the knob declarations" in capsys.readouterr().err
    assert docs.main(["--root", str(checkout)]) == 0
    assert docs.main(["--check", "--root", str(checkout)]) == 0


def test_a_changed_declaration_changes_both_generated_files(monkeypatch):
    before = docs.render_all_py(), docs.render_readme_table()
    changed = tuple(dataclasses.replace(item, default=10096) if getattr(item, "name", "") == "funasr_port"
                    else item for item in knobs.DECLARATIONS)
    monkeypatch.setattr(docs, "DECLARATIONS", changed)
    after = docs.render_all_py(), docs.render_readme_table()
    assert "funasr_port = 10096\n" in after[0] and "funasr_port = 10096\n" not in before[0]
    assert "`10096`" in after[1] and "`10096`" not in before[1]


def test_the_readme_markers_are_required():
    with pytest.raises(ValueError, match="knobs:begin"):
        docs.with_readme_table("# README without the markers\n")
