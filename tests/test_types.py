"""Types are part of the API: the typed record classes match the one record definition, and
the annotated modules (mypy.ini's list) pass the type checker."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from apeltools.records import classes, stubgen
from apeltools.records.types import RECORD_TYPES, RecordType

ROOT = Path(__file__).resolve().parent.parent


def test_committed_record_classes_match_the_record_types():
    check = subprocess.run([sys.executable, "-m", "apeltools.records.stubgen", "--check"],
                           capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_field_added_to_a_record_type_makes_the_committed_classes_stale(monkeypatch):
    from apeltools.records.fields import INT, Field
    from apeltools.records import types

    grown = RecordType(name="sync", table="SyncRecords", key=types.SYNC.key,
                       fields=types.SYNC.fields + (Field("Extra", INT),))
    monkeypatch.setitem(stubgen.RECORD_TYPES, "sync", grown)
    assert stubgen.main(["--check"]) == 1
    assert "        Extra: int | None = None\n" in stubgen.render()


@pytest.mark.parametrize("rtype", RECORD_TYPES.values(), ids=RECORD_TYPES.keys())
def test_each_typed_name_is_the_class_its_record_type_makes(rtype):
    named = getattr(classes, rtype.cls.__name__)
    assert named is rtype.cls
    assert [f.name for f in fields(named)] == [f.name for f in rtype.fields]


def test_the_annotated_modules_pass_mypy():
    pytest.importorskip("mypy", reason="mypy is in the test extras: pip install -e .[test]")
    checked = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "mypy.ini"],
                             capture_output=True, text=True, cwd=ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_mypy_sees_the_fields_of_a_record_class(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the test extras: pip install -e .[test]")
    script = tmp_path / "uses_records.py"
    script.write_text("from apeltools.records.classes import JobRecord\n"
                      "record = JobRecord(Site='EXAMPLE')\n"
                      "reveal_type(record.EndTime)\n"
                      "record.NoSuchField\n", encoding="utf-8")
    checked = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "mypy.ini"),
                              "--follow-imports", "silent", str(script)],
                             capture_output=True, text=True, cwd=ROOT)
    assert re.search(r'Revealed type is "(builtins\.)?int \| None"', checked.stdout), checked.stdout
    assert '"JobRecord" has no attribute "NoSuchField"' in checked.stdout
