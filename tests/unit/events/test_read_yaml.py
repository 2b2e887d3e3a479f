"""``libs.events.validation.read_yaml``: every configuration loader reads its YAML file through it."""

from __future__ import annotations

import pytest

from libs.events.validation import read_yaml


class Refused(ValueError):
    pass


def test_a_yaml_file_is_read(tmp_path):
    (tmp_path / "ok.yaml").write_text("a: [1, 2]\n", encoding="utf-8")
    assert read_yaml(tmp_path / "ok.yaml", "thing", Refused) == {"a": [1, 2]}
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    assert read_yaml(str(tmp_path / "empty.yaml"), "thing", Refused) is None


@pytest.mark.parametrize("name, content, says", [
    ("binary.yaml", b"\xff\xfe\x00a: 1", "not a replay config (not UTF-8 text; a binary file?)"),
    ("bad.yaml", b"a: [1,\n  b: {\n", "cannot read the replay config: while parsing a flow node"),
])
def test_a_file_that_is_not_yaml_text_is_refused_in_one_line_naming_it(tmp_path, name, content, says):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Refused) as refused:
        read_yaml(path, "replay config", Refused)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and says in message and "\n" not in message


def test_a_missing_file_is_refused_with_the_reason(tmp_path):
    with pytest.raises(Refused, match="nowhere.yaml: cannot read the scheduler policy: .*No such file"):
        read_yaml(tmp_path / "nowhere.yaml", "scheduler policy", Refused)
