"""group_data/all.py and the knob tables of README.md and README.zh-CN.md are generated from
the knob declarations (settings/knobs.py); each test here fails when a file drifts from them."""

import dataclasses
import runpy
import shutil

import pytest

from funasr_fleet.settings import DEFAULTS, KNOB_DECLARATIONS, docs, knobs
from helpers import REPO


def test_group_data_all_py_is_the_generated_one():
    assert (REPO / "group_data" / "all.py").read_text(encoding="utf-8") == docs.render_all_py(), \
        "group_data/all.py drifted from settings/knobs.py: run python -m funasr_fleet.settings.docs"


@pytest.mark.parametrize("language, name", [("en", "README.md"), ("zh", "README.zh-CN.md")])
def test_each_readme_knob_table_is_the_generated_one(language, name):
    readme = (REPO / name).read_text(encoding="utf-8")
    assert readme == docs.with_readme_table(readme, language), \
        f"{name}'s knob table drifted from settings/knobs.py: run python -m funasr_fleet.settings.docs"


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


def test_every_row_has_a_chinese_meaning_and_only_the_meaning_differs():
    for knob in KNOB_DECLARATIONS:
        assert bool(knob.meaning_zh) == bool(knob.meaning), knob.name  # a row's first knob has both
        assert "\n" not in knob.meaning_zh and "|" not in knob.meaning_zh, knob.name
        assert knob.meaning_zh != knob.meaning or not knob.meaning, knob.name  # translated
    english, chinese = (docs.render_readme_table(language).splitlines() for language in ("en", "zh"))
    assert len(english) == len(chinese)
    for en_row, zh_row in zip(english[2:], chinese[2:]):
        # knob names and defaults are the same cells; the meaning is each language's own
        assert en_row.split(" | ")[:2] == zh_row.split(" | ")[:2]
    assert chinese[0] == "| 配置项 | 默认值 | 含义 |"


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "group_data").mkdir()
    shutil.copy(REPO / "group_data" / "all.py", tmp_path / "group_data" / "all.py")
    for name in ("README.md", "README.zh-CN.md"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("path, edit", [
    ("group_data/all.py", lambda text: text.replace("funasr_port = 10095", "funasr_port = 10096")),
    ("group_data/all.py", lambda text: text + "funasr_extra = 1\n"),
    ("README.md", lambda text: text.replace("| `funasr_port` |", "| `funasr_port`, `funasr_extra` |")
                                   .replace("| server threads |", "| threads |")),
    ("README.zh-CN.md", lambda text: text.replace("| 服务线程数 |", "| 线程 |")),
    ("README.zh-CN.md", lambda text: text.replace("`funasr_bind_address`, `funasr_port` |",
                                                   "`funasr_bind_address`, `funasr_port`, `funasr_extra` |")),
    ("README.zh-CN.md", lambda text: text.replace("| `10095` |", "| `10096` |", 1)),
])
def test_the_check_fails_on_a_hand_edited_file_and_the_generator_repairs_it(checkout, path, edit, capsys):
    assert docs.main(["--check", "--root", str(checkout)]) == 0
    target = checkout / path
    target.write_text(edit(target.read_text(encoding="utf-8")), encoding="utf-8")
    assert docs.main(["--check", "--root", str(checkout)]) == 1
    assert f"{target} differs from the knob declarations" in capsys.readouterr().err
    assert docs.main(["--root", str(checkout)]) == 0
    assert docs.main(["--check", "--root", str(checkout)]) == 0


def test_a_changed_declaration_changes_every_generated_file(monkeypatch):
    before = docs.render_all_py(), docs.render_readme_table("en"), docs.render_readme_table("zh")
    changed = tuple(dataclasses.replace(item, default=10096) if getattr(item, "name", "") == "funasr_port"
                    else item for item in knobs.DECLARATIONS)
    monkeypatch.setattr(docs, "DECLARATIONS", changed)
    after = docs.render_all_py(), docs.render_readme_table("en"), docs.render_readme_table("zh")
    assert "funasr_port = 10096\n" in after[0] and "funasr_port = 10096\n" not in before[0]
    assert all("`10096`" in table for table in after[1:]) and not any("`10096`" in table for table in before[1:])


def test_the_readme_markers_are_required():
    with pytest.raises(ValueError, match="knobs:begin"):
        docs.with_readme_table("# README without the markers\n")
    with pytest.raises(ValueError, match="README.zh-CN.md must hold"):
        docs.with_readme_table("# 没有标记的 README\n", "zh")


def test_the_check_fails_when_the_chinese_readme_is_missing(checkout, capsys):
    (checkout / "README.zh-CN.md").unlink()
    assert docs.main(["--check", "--root", str(checkout)]) == 1
    assert "README.zh-CN.md must hold" in capsys.readouterr().err
