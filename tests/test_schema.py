"""The report contract: docs/report.schema.json is a valid schema that accepts the reports
edgekit writes and refuses broken ones, and docs/report.md's key reference is made from it.

``python tests/test_schema.py`` rewrites that reference after the schema changed.
"""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from conftest import REPORT_SCHEMA, check_reports, described_keys_only, report_errors
from test_report import (
    make_deploy_report,
    make_flash_report,
    make_int8_only_report,
    make_mcu_report,
    make_onnx_report,
    make_report,
)

from edgekit.report import render_json
from edgekit.report.verdict import verdict_rows

REPORT_DOC = REPORT_SCHEMA.with_name("report.md")
BEGIN = "<!-- keys: made from report.schema.json by `python tests/test_schema.py` -->"
END = "<!-- end of keys -->"


def schema() -> dict:
    return json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))


def written(report: dict) -> dict:
    """``report`` as ``write_reports`` writes it to report.json."""
    return json.loads(render_json({**report, "verdict": verdict_rows(report)}))


BUILDERS = [
    make_report,
    make_mcu_report,
    make_onnx_report,
    make_int8_only_report,
    make_deploy_report,
    make_flash_report,
]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.Draft202012Validator.check_schema(described_keys_only(schema()))  # the suite's
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_the_reports_the_renderer_tests_use_follow_the_schema(build):
    assert report_errors(written(build())) == []


@pytest.mark.parametrize("key", schema()["required"])
def test_a_report_missing_a_required_key_is_refused(key):
    report = written(make_mcu_report())
    del report[key]
    assert report_errors(report) == [f"$: '{key}' is a required property (schema: required)"]


def test_a_figure_that_is_always_measured_cannot_be_null():
    report = written(make_report())
    report["accuracy"]["int8_runtime"] = None
    report["validation"][0]["bit_exact"] = None
    errors = report_errors(report)
    assert len(errors) == 2
    assert errors[0].startswith("$.accuracy.int8_runtime: None is not of type 'string'")
    assert errors[1].startswith("$.validation[0].bit_exact: None is not of type 'boolean'")


def test_fields_may_be_added_but_the_suite_wants_every_key_described():
    report = written(make_mcu_report())
    report["artifacts"][-1]["new_figure"] = 1
    jsonschema.validate(report, schema())  # the published contract lets later versions add keys
    assert report_errors(report) == [
        "$.artifacts[1]: Unevaluated properties are not allowed ('new_figure' was unexpected) "
        "(schema: properties/artifacts/items/unevaluatedProperties)"
    ]


def test_flash_and_deploy_records_each_have_their_own_section():
    flash = written(make_flash_report())
    misplaced = {**flash, "deploy": flash.pop("flash")}
    assert "$.deploy: 'remote_dir' is a required property" in report_errors(misplaced)[0]
    deploy = written(make_deploy_report())
    del deploy["deploy"]["results"][2]["error"]
    assert report_errors(deploy) == [
        "$.deploy.results[2]: 'error' is a required property "
        "(schema: properties/deploy/properties/results/items/else/required)"
    ]


def test_a_written_report_that_breaks_the_contract_fails_naming_the_file_and_the_rule(tmp_path):
    path = tmp_path / "build" / "report.json"
    path.parent.mkdir()
    report = written(make_report())
    path.write_text(json.dumps(report))
    check_reports(tmp_path)
    broken = copy.deepcopy(report)
    broken["gate"]["passed"] = "yes"
    path.write_text(json.dumps(broken))
    try:
        with pytest.raises(pytest.fail.Exception) as failure:
            check_reports(tmp_path)
    finally:
        path.write_text(json.dumps(report))  # so that this test's own check passes
    message = str(failure.value)
    assert message.startswith(f"{path} does not follow report.schema.json:")
    assert "$.gate.passed: 'yes' is not of type 'boolean', 'null'" in message
    assert "(schema: properties/gate/properties/passed/type)" in message


def test_docs_report_md_describes_every_key_of_the_schema():
    text = REPORT_DOC.read_text(encoding="utf-8")
    assert text.split(BEGIN)[1].split(END)[0] == "\n" + key_reference(schema()) + "\n", (
        "docs/report.md is out of date: run python tests/test_schema.py"
    )


# ---------------------------------------------------------------- the key reference


def key_reference(schema: dict) -> str:
    """One Markdown table per top-level key: every key below it, its type and meaning."""
    parts = []
    for name, node in schema["properties"].items():
        rows = [(f"`{name}`", _type(node, schema), _description(node, schema, name, schema))]
        rows += _rows(_resolved(node, schema), name, schema)
        table = ["| key | type | meaning |", "| --- | --- | --- |"]
        table += [f"| {key} | {kind} | {meaning} |" for key, kind, meaning in rows]
        parts.append(f"### {name}\n\n" + "\n".join(table))
    return "\n\n".join(parts)


def _resolved(node: dict, schema: dict) -> dict:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _description(node: dict, schema: dict, key: str, parent: dict) -> str:
    text = node.get("description") or _resolved(node, schema).get("description", "")
    optional = key not in parent.get("required", [])
    return ("Optional. " if optional else "") + text.replace("|", "\\|")


def _type(node: dict, schema: dict) -> str:
    node = {**_resolved(node, schema), **{k: v for k, v in node.items() if k != "$ref"}}
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "anyOf" in node:
        return " or ".join(_type(option, schema) for option in node["anyOf"])
    kinds = node.get("type", "object")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = []
    for kind in kinds:
        if kind == "array":
            items = _resolved(node["items"], schema)
            inner = "objects" if "properties" in items else _type(node["items"], schema)
            words.append(f"array of {inner}")
        elif kind == "object" and "additionalProperties" in node:
            words.append(f"object of {_type(node['additionalProperties'], schema)}s")
        elif kind == "number" and node.get("minimum") == 0 and node.get("maximum") == 1:
            words.append("number (0–1)")
        else:
            words.append(kind)
    return " or ".join(words)


def _rows(node: dict, path: str, schema: dict) -> list[tuple[str, str, str]]:
    """Rows for the keys below ``node`` (an object, or an array of objects) at ``path``."""
    rows = []
    if node.get("type") == "array" or "items" in node:
        items = node["items"]
        if "description" in items:
            rows.append((f"`{path}[]`", "object", items["description"]))
        return rows + _rows(_resolved(items, schema), f"{path}[]", schema)
    for name, child in node.get("properties", {}).items():
        key = f"{path}.{name}"
        rows.append((f"`{key}`", _type(child, schema), _description(child, schema, name, node)))
        target = _resolved(child, schema)
        if "anyOf" in child:
            target = next(_resolved(o, schema) for o in child["anyOf"] if "$ref" in o)
        rows += _rows(target, key, schema)
    return rows


def _write_key_reference() -> None:
    text = REPORT_DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN)
    tail = rest.split(END)[1]
    REPORT_DOC.write_text(
        f"{head}{BEGIN}\n{key_reference(schema())}\n{END}{tail}", encoding="utf-8"
    )


if __name__ == "__main__":
    _write_key_reference()
