"""The report stage: what a person reads in report.md / report.html, and what CI reads in JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from edgekit.report import (
    render_html,
    render_json,
    render_markdown,
    short_layer_name,
    write_reports,
)

CLASSES = 10
XSS_LAYER = "<script>alert(1)</script>"
MCU_LAYERS = 65
BOARD = "STM32F746G-DISCO"
REFERENCE = "LiteRT BUILTIN_REF (TFLite reference kernels)"


def make_report(layers: int = 62) -> dict:
    """A full rpi4 build of MobileNetV2 1.0@224 on digits, as the pipeline would produce it."""
    names = [
        f"block_{i // 3}_{('expand_relu', 'depthwise_relu', 'project_BN')[i % 3]}"
        for i in range(layers)
    ]
    sqnr = [30.0 + (i * 7) % 13 for i in range(layers)]
    sqnr[17], sqnr[40], sqnr[55] = 8.25, 11.5, 14.75  # the three layers someone should look at
    confusion = [
        [35 if row == col else (1 if col == (row + 1) % CLASSES else 0) for col in range(CLASSES)]
        for row in range(CLASSES)
    ]
    return {
        "edgekit_version": "0.1.0",
        "float32": None,  # the Linux builds' host timing: test_floatref.py runs it for real
        "target": "rpi4",
        "target_info": {
            "cpu": "cortex-a72",
            "board": "Raspberry Pi 4 Model B (4 GB)",
            "family": "linux",
        },
        "model": {
            "name": "mobilenet_v2",
            "alpha": 1.0,
            "resolution": 224,
            "input_shape": [224, 224, 3],
            "classes": CLASSES,
            "inputs": [
                {
                    "name": "input",
                    "shape": [224, 224, 3],
                    "dtype": "int8",
                    "scale": 0.0078,
                    "zero_point": -1,
                }
            ],
            "outputs": [
                {
                    "name": "logits",
                    "shape": [CLASSES],
                    "dtype": "int8",
                    "scale": 0.1,
                    "zero_point": 3,
                }
            ],
            "params": 2236682,
            "macs": 300000000,
            "weights": "digits",
            "source": "built-in",
            "precision": {"asked": "int8", "computes": "int8", "mixed": None},
        },
        "dataset": {
            "name": "digits",
            "calibration_samples": 128,
            "eval_samples": 359,
            "origin": "the built-in digits",
            "class_names": [str(i) for i in range(CLASSES)],
            "skipped_files": ["data/7/broken.png: cannot identify image file"],
        },
        "accuracy": {
            "int8_runtime": "LiteRT builtin int8 kernels, host",
            "absent": None,
            "float_top1": 0.9721,
            "float_top5": 0.9986,
            "int8_top1": 0.9638,
            "int8_top5": 0.9972,
            "top1_drop_points": 0.83,
            "top1_agreement": 0.9889,
            "logits_sqnr_db": 25.31,
            "logits_cosine": 0.99812,
            "outputs": [
                {
                    "name": "logits",
                    "shape": [CLASSES],
                    "max_abs_diff": 0.41,
                    "sqnr_db": 25.31,
                    "cosine": 0.99812,
                }
            ],
            "layers": [
                {
                    "name": name,
                    "op": "CONV_2D",
                    "shape": [1, 28, 28, 96],
                    "sqnr_db": value,
                    "cosine": 0.9996,
                }
                for name, value in zip(names, sqnr, strict=True)
            ],
            "confusion_matrix": {"float": confusion, "int8": confusion},
        },
        "gate": {"max_drop": 1.0, "passed": True},
        "stages": [
            {
                "name": "model",
                "status": "done",
                "detail": "built-in digits weights",
                "seconds": 1.2,
            },
            {
                "name": "quantize",
                "status": "done",
                "detail": "128 calibration images",
                "seconds": 14.6,
            },
            {"name": "compile", "status": "skipped", "detail": "no backend asked", "seconds": 0.0},
        ],
        "artifacts": [
            {
                "backend": "tflite",
                "path": "model_int8.tflite",
                "precision": "int8",
                "bytes": 400000,
                "flash_bytes": None,
                "ram_bytes": None,
            }
        ],
        "validation": [
            {
                "backend": "c",
                "runner": "qemu-system-arm mps2-an500",
                "reference": REFERENCE,
                "inputs": 32,
                "bit_exact": True,
                "max_abs_diff": 0,
                "top1_agreement": 1.0,
                "float_top1_agreement": None,
                "top1": None,
            }
        ],
        "benchmark": [
            {
                "backend": "c",
                "runner": "qemu-system-arm mps2-an500",
                "instructions": 91234567,
                "instructions_per_mac": None,
                "latency_ms": None,
                "latency_inferences": None,
            }
        ],
        "failures": [],
    }


def converter_names(layers: list[dict]) -> list[str]:
    """The tensor names the TFLite converter gives the layers' outputs."""
    suffix = {"CONV_2D": "Relu6", "DEPTHWISE_CONV_2D": "Relu6", "ADD": "Add"}
    return [
        f"mobilenet_v2_1/{layer['name']}_1/"
        + ("batchnorm/add_1" if layer["name"].endswith("_BN") else suffix[layer["op"]])
        for layer in layers
    ]


def make_mcu_report() -> dict:
    """MobileNetV2 0.35@96 compiled by the ``c`` backend, run as Cortex-M7 firmware in QEMU."""
    report = make_report(layers=MCU_LAYERS)
    report["target"] = "cortex-m7"
    report["target_info"] = {"cpu": "cortex-m7", "board": BOARD, "family": "mcu"}
    report["model"].update(alpha=0.35, resolution=96, params=394858, macs=10666928)
    layers = report["accuracy"]["layers"]
    for i, layer in enumerate(layers):
        layer["op"] = ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D")[i % 3]
    names = converter_names(layers)
    instructions = [600_000 + 37_000 * ((i * 11) % 17) for i in range(MCU_LAYERS)]
    for i, n in zip((3, 0, 61, 1, 7, 4, 10, 6, 2, 14), range(10), strict=True):
        instructions[i] = 19_000_000 - n * 1_500_000  # the ten a person should look at
    report["artifacts"].append(
        {
            "backend": "c",
            "path": "c",
            "precision": "int8",
            "bytes": None,  # a folder of C sources and firmware
            "flash_bytes": 494002,
            "ram_bytes": 147120,
            "arena_bytes": 130176,
            "arena_lower_bound": 138240,
            "peak_layer": names[4],
            "fits": {"ram_budget": 327680, "flash_budget": 1048576, "ok": True},
        }
    )
    report["validation"] = [
        {
            "backend": "c",
            "runner": "qemu-system-arm mps2-an500",
            "reference": REFERENCE,
            "inputs": 5,
            "bit_exact": True,
            "max_abs_diff": 0,
            "top1_agreement": 1.0,
            "float_top1_agreement": None,
            "top1": None,
            "layers_compared": MCU_LAYERS,
            "first_differing_layer": None,
        }
    ]
    report["benchmark"] = [
        {
            "backend": "c",
            "runner": "qemu-system-arm mps2-an500",
            "instructions": sum(instructions) + 728,
            "instructions_per_mac": 14.61,
            "latency_ms": None,
            "latency_inferences": None,
            "layers": [
                {"name": name, "instructions": n}
                for name, n in zip(names, instructions, strict=True)
            ],
        }
    ]
    figures = {"latency_ms": None, "arena_bytes": 130176, "ram_bytes": 147120, "fits": True}
    report["float32"] = {
        "where": "board",
        "target": "cortex-m7",
        "runner": "qemu-system-arm mps2-an500",
        "reason": None,
        "int8": {**figures, "instructions": 19_269_764, "flash_bytes": 494002},
        "float32": {
            **figures,
            "instructions": 143_915_920,
            "arena_bytes": 552960,
            "flash_bytes": 1_650_972,
            "ram_bytes": 570_000,
            "fits": False,
            "max_abs_diff": 2.4e-7,
        },
    }
    report["float32"]["int8"]["max_abs_diff"] = None
    return report


def benchmark_row(backend: str, runner: str, **figures) -> dict:
    """A benchmark row with nothing measured but ``figures``."""
    row = {"backend": backend, "runner": runner, "instructions": None}
    row.update(instructions_per_mac=None, latency_ms=None, latency_inferences=None)
    return {**row, **figures}


def section(md: str, heading: str) -> str:
    return md.split(f"## {heading}\n")[1].split("\n## ")[0]


def make_int8_only_report() -> dict:
    """The user gave an int8 .tflite: nothing float was measured, and there was no gate."""
    report = make_report()
    report["model"].update(
        alpha=None,
        params=None,
        macs=None,
        weights="models/user.tflite",
        source="models/user.tflite",
    )
    accuracy = report["accuracy"]
    for key in (
        "float_top1",
        "float_top5",
        "top1_drop_points",
        "top1_agreement",
        "logits_sqnr_db",
        "logits_cosine",
    ):
        accuracy[key] = None
    accuracy["layers"] = []
    accuracy["confusion_matrix"]["float"] = None
    report["gate"] = {"max_drop": 1.0, "passed": None}
    report["dataset"]["skipped_files"] = []
    report["validation"], report["benchmark"] = [], []
    return report


def visible_text(page: str) -> str:
    """The page without tags, inline SVG and CSS: the words a reader sees outside the plots."""
    page = re.sub(r"<(svg|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


def test_json_round_trips_to_the_same_dict_in_the_same_key_order():
    report = make_report()
    text = render_json(report)
    assert json.loads(text) == report
    assert list(json.loads(text)) == list(report)
    assert '\n  "target": "rpi4",' in text  # indented, one key per line


def test_json_is_strict_even_with_nan_and_numpy_values():
    np = pytest.importorskip("numpy")
    report = make_report()
    report["accuracy"]["logits_sqnr_db"] = float("nan")
    report["accuracy"]["confusion_matrix"]["int8"] = np.eye(CLASSES, dtype=np.int64) * 35
    report["accuracy"]["int8_top1"] = np.float32(0.5)
    loaded = json.loads(render_json(report), parse_constant=pytest.fail)
    assert loaded["accuracy"]["logits_sqnr_db"] is None
    assert loaded["accuracy"]["confusion_matrix"]["int8"][3][3] == 35
    assert loaded["accuracy"]["int8_top1"] == 0.5


def test_markdown_headline_shows_float_and_int8_figures():
    md = render_markdown(make_report())
    assert md.startswith("# edgekit report: MobileNetV2 1.0@224, 10 classes on rpi4\n")
    assert "| Top-1 | 97.21% | 96.38% |" in md
    assert "| Top-5 | 99.86% | 99.72% |" in md
    assert "| Top-1 agreement with float | — | 98.89% |" in md
    assert "| Logits SQNR vs float | — | 25.3 dB |" in md
    assert "| Logits cosine vs float | — | 0.99812 |" in md
    assert "| Top-1 drop | — | 0.83 points |" in md
    assert "| Gate (max drop 1.00 points) | — | PASSED |" in md
    assert "**Gate: PASSED**" in md
    assert "Raspberry Pi 4 Model B (4 GB)" in md
    assert "parameters 2,236,682; MACs 300,000,000; weights digits; source built-in" in md
    assert "digits; calibration samples 128; evaluation samples 359" in md


def test_markdown_lists_the_ten_worst_layers_worst_first():
    report = make_report()
    md = render_markdown(report)
    table = md.split("## Per-layer SQNR")[1].split("## ")[0]
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == 10
    layers = report["accuracy"]["layers"]
    assert rows[0] == f"| 17 | {layers[17]['name']} | CONV_2D | 1×28×28×96 | 8.2 dB | 0.99960 |"
    assert layers[40]["name"] in rows[1] and layers[55]["name"] in rows[2]
    best = max(layers, key=lambda layer: layer["sqnr_db"])["name"]
    assert best not in table


def test_markdown_has_artifacts_stages_checks_and_skipped_files():
    md = render_markdown(make_report())
    assert "| tflite | model_int8.tflite | int8 | 390.6 KiB | — | — |" in md
    assert "| quantize | done | 14.6 s | 128 calibration images |" in md
    assert "Total 15.8 s." in md
    assert (
        f"| c | qemu-system-arm mps2-an500 | {REFERENCE} | 32 | yes | 0 | 100.00% | — | — | — |"
        in md
    )
    assert "| c | qemu-system-arm mps2-an500 | 91,234,567 | — | — |" in md
    assert "- data/7/broken.png: cannot identify image file" in md


def test_markdown_escapes_user_text_that_would_break_a_table():
    report = make_report()
    report["accuracy"]["layers"][17]["name"] = "conv|bad <b>"
    md = render_markdown(report)
    assert "conv\\|bad &lt;b&gt;" in md
    assert "<b>" not in md


def test_html_is_self_contained_with_svg_plots():
    page = render_html(make_report())
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2  # per-layer SQNR, confusion matrices
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    urls = re.findall(r"https?://[^\s\"'<>)]+", page)
    assert set(urls) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    for namespace in re.finditer(r"https?://", page):
        assert re.search(r"xmlns(:\w+)?=\"$", page[: namespace.start()])
    assert not re.search(r"<script|<link|<iframe|@import|url\((?!#)", page, re.I)
    assert not re.search(r"(src|href)=\"(?!#|data:)", page)


def test_html_plots_show_every_layer_and_the_confusion_counts():
    report = make_report()
    page = render_html(report)
    sqnr_plot, confusion_plot = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    for i, layer in enumerate(report["accuracy"]["layers"]):
        assert f"{i} {layer['name']}" in sqnr_plot
    assert "median" in sqnr_plot
    assert "float: 97.2% correct" in confusion_plot  # 35 of 36 per row
    assert "int8: 97.2% correct" in confusion_plot
    assert confusion_plot.count(">35<") == 2 * CLASSES  # diagonal counts written in the cells


def test_html_float_vs_int8_table_and_all_layers():
    page = render_html(make_report())
    assert "<td class=num>97.21%</td><td class=num>96.38%</td>" in page
    assert "<details><summary>All 62 rows</summary>" in page
    assert "class='gate passed'" in page


def test_html_escapes_layer_names_paths_and_class_names():
    report = make_report()
    report["accuracy"]["layers"][17]["name"] = XSS_LAYER
    report["artifacts"][0]["path"] = "out/<img onerror=x>.tflite"
    report["dataset"]["class_names"][3] = "<b>three</b>"
    page = render_html(report)
    assert XSS_LAYER not in page
    assert "<img" not in page and "<b>three" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in visible_text(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.split("<svg")[1]  # in the plot too


def test_int8_only_report_says_what_was_not_measured():
    report = make_int8_only_report()
    md, page = render_markdown(report), render_html(report)
    for text in (md, visible_text(page)):
        assert "No float reference: the model was given as int8 .tflite" in text
        assert "not measured" in text
        assert "Per-layer SQNR: not measured." in text
        assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b", text)
    assert "| Top-1 | not measured | 96.38% |" in md
    assert "| Top-1 drop | — | not measured |" in md
    assert "MobileNetV2 224x224x3, 10 classes" in md
    assert "parameters not measured; MACs not measured" in md
    assert "Gate: not checked" in md
    assert "## Validation" not in md and "## Skipped data files" not in md
    assert page.count("<svg") == 1  # int8 confusion matrix only
    assert "float:" not in page.split("<svg")[1]
    assert "Float: not measured (no float reference); int8 only." in page


def test_missing_figures_are_never_shown_as_zero():
    report = make_int8_only_report()
    md = render_markdown(report)
    headline = md.split("## Accuracy")[1].split("## ")[0]
    assert "0.00" not in headline and "| 0" not in headline


def test_failed_gate_is_visible():
    report = make_report()
    report["accuracy"].update(int8_top1=0.9521, top1_drop_points=2.0)
    report["gate"]["passed"] = False
    md, page = render_markdown(report), render_html(report)
    assert (
        "**Gate: FAILED** — the top-1 drop of 2.00 points is over the limit of 1.00 points." in md
    )
    assert "| Gate (max drop 1.00 points) | — | FAILED |" in md
    assert "class='gate failed'" in page and "<b>Gate: FAILED</b>" in page


def test_write_reports_writes_three_files_and_leaves_no_temporaries(tmp_path):
    report = make_report()
    paths = write_reports(report, tmp_path)
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    assert json.loads(paths[0].read_text(encoding="utf-8")) == report
    assert paths[1].read_text(encoding="utf-8") == render_markdown(report)
    assert "<svg" in paths[2].read_text(encoding="utf-8")


def test_writing_twice_replaces_the_reports(tmp_path):
    write_reports(make_report(), tmp_path)
    report = make_int8_only_report()
    paths = write_reports(report, tmp_path)
    assert len(list(tmp_path.iterdir())) == 3
    assert json.loads(paths[0].read_text(encoding="utf-8")) == report
    assert "No float reference" in paths[1].read_text(encoding="utf-8")


def test_a_failed_render_leaves_the_old_reports_untouched(tmp_path):
    old = write_reports(make_report(), tmp_path)
    before = {p.name: p.read_bytes() for p in old}
    broken = make_report()
    broken["extra"] = object()  # not JSON-serializable: rendering fails before any write
    with pytest.raises(TypeError):
        write_reports(broken, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, edgekit.report; print('matplotlib' in sys.modules, 'numpy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("mobilenet_v2_1/block_1_depthwise_relu_1/Relu6", "block_1_depthwise_relu"),
        ("mobilenet_v2_1/expanded_conv_project_BN_1/batchnorm/add_1", "expanded_conv_project_BN"),
        ("mobilenet_v2_1/block_2_add_1/Add", "block_2_add"),
        ("mobilenet_v2_1/logits_1/MatMul", "logits"),
        ("Conv1_relu", "Conv1_relu"),  # already a layer name
        ("StatefulPartitionedCall_1:0", "StatefulPartitionedCall_1:0"),
    ],
)
def test_converter_tensor_names_are_shortened_to_their_layer(name, layer):
    assert short_layer_name(name) == layer


def test_markdown_shows_int8_against_float32_on_the_board():
    md = render_markdown(make_mcu_report())
    table = section(md, "int8 against float32 on the board")
    assert "float32 reference kernels" in table and "qemu-system-arm mps2-an500" in table
    assert "| Instructions per inference | 19,269,764 | 143,915,920 | 7.47× |" in table
    assert "| Arena | 127.1 KiB | 540.0 KiB | 4.25× |" in table
    assert "| Fits the board | yes | no |" in table
    assert "at most 2.4e-07 on that input" in table
    # nothing measured: the reason, no table
    report = make_mcu_report()
    report["float32"].update(reason="model.tflite is a quantized .tflite", float32=None)
    md = render_markdown(report)
    assert "float32 not measured: model.tflite is a quantized .tflite." in md


def test_markdown_microcontroller_memory_fits_the_board():
    md = render_markdown(make_mcu_report())
    memory = section(md, "Microcontroller memory")
    assert f"Target board: {BOARD}." in memory
    assert f"c fits the {BOARD}: RAM 143.7 KiB of 320.0 KiB (45%); flash 482.4 KiB of 1.0 MiB" in md
    assert (
        "| c | 127.1 KiB | 135.0 KiB | 0.94× | block_1_depthwise_relu | 143.7 KiB | 320.0 KiB "
        "| 482.4 KiB | 1.0 MiB | fits |" in memory
    )
    assert "does not fit" not in md
    assert "| c | c | int8 | — | 482.4 KiB | 143.7 KiB |" in section(md, "Artifacts")
    assert "keras" not in memory and "tflite" not in memory  # host artifacts have no arena


def test_markdown_says_which_memory_does_not_fit():
    report = make_mcu_report()
    report["artifacts"][-1].update(
        ram_bytes=400_000, fits={**report["artifacts"][-1]["fits"], "ok": False}
    )
    md = render_markdown(report)
    memory = section(md, "Microcontroller memory")
    assert f"c does not fit the {BOARD}: RAM 390.6 KiB of 320.0 KiB (122%);" in memory
    assert memory.rstrip().endswith("| 482.4 KiB | 1.0 MiB | does not fit (RAM) |")
    assert "| fits |" not in memory and " fits the" not in memory


def test_a_failed_fit_check_is_believed_even_without_the_figure():
    report = make_mcu_report()
    report["artifacts"][-1].update(
        flash_bytes=None, fits={"ram_budget": 327680, "flash_budget": 1048576, "ok": False}
    )
    memory = section(render_markdown(report), "Microcontroller memory")
    assert memory.rstrip().endswith("| — | 1.0 MiB | does not fit |")
    assert "fits" not in memory


def test_memory_without_budget_or_figures_is_not_guessed():
    report = make_mcu_report()
    c = report["artifacts"][-1]
    c.update(arena_lower_bound=None, peak_layer=None)
    del c["fits"]  # a target without budgets
    md = render_markdown(report)
    memory = section(md, "Microcontroller memory")
    assert f"Target board: {BOARD}." in memory
    assert f"c: fit on the {BOARD} not checked (no budget for this board)." in memory
    assert "| c | 127.1 KiB | — | — | — | 143.7 KiB | — | 482.4 KiB | — | — |" in memory
    c.update(ram_bytes=None, fits={"ram_budget": 327680, "flash_budget": None, "ok": None})
    memory = section(render_markdown(report), "Microcontroller memory")
    assert f"c: fit on the {BOARD} not checked (a figure was not measured)." in memory
    page = render_html(report)
    for text in (md, visible_text(page)):
        assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b|\binf\b", text)


def test_no_microcontroller_section_without_arena_figures():
    md, page = render_markdown(make_report()), render_html(make_report())
    assert "Microcontroller memory" not in md and "Microcontroller memory" not in page
    assert "Per-layer instructions" not in page


def test_validation_names_the_reference_and_the_layer_comparison():
    report = make_mcu_report()
    row = f"| c | qemu-system-arm mps2-an500 | {REFERENCE} | 5 |"
    assert f"{row} yes | 0 | 100.00% | — | — | all 65 layers equal |" in render_markdown(report)
    report["validation"][0].update(
        bit_exact=False,
        max_abs_diff=3,
        top1_agreement=0.8,
        first_differing_layer="mobilenet_v2_1/block_3_expand_relu_1/Relu6",
        float_top1_agreement=0.6,
        top1=0.4,
    )
    assert (
        f"{row} no | 3 | 80.00% | 60.00% | 40.00% | first differs at block_3_expand_relu (of 65) |"
        in render_markdown(report)
    )
    md = render_markdown(make_report())  # layers not compared
    assert f"| c | qemu-system-arm mps2-an500 | {REFERENCE} | 32 | yes |" in md
    assert "| 100.00% | — | — | — |" in md


def test_benchmark_shows_instructions_per_mac_and_why_there_is_no_latency():
    report = make_mcu_report()
    md = render_markdown(report)
    bench = section(md, "Benchmark")
    total = report["benchmark"][0]["instructions"]
    assert f"| c | qemu-system-arm mps2-an500 | {total:,} | 14.61 | — |" in bench
    assert "counted by QEMU" in bench and "not a latency" in bench
    report["benchmark"][0].update(instructions_per_mac=None, runner="host")
    bench = section(render_markdown(report), "Benchmark")
    assert f"| c | host | {total:,} | — | — |" in bench
    assert "QEMU" not in bench


def test_benchmark_names_the_fastest_only_where_latency_was_measured():
    report = make_report()
    report["target_info"]["family"] = "linux"
    report["benchmark"] = [
        benchmark_row("c", "qemu-aarch64 -cpu cortex-a72"),
        benchmark_row("litert", "qemu-aarch64 -cpu cortex-a72"),
    ]
    bench = section(render_markdown(report), "Benchmark")
    assert "Fastest" not in bench
    assert "Latency not measured" in bench and "edgekit deploy --target rpi4 --host" in bench
    report["target_info"]["family"] = "host"
    report["benchmark"] = [
        benchmark_row("c", "host", latency_ms=8.0, latency_inferences=20),
        benchmark_row("litert", "host python", latency_ms=0.5, latency_inferences=20),
        benchmark_row("tvm", "host python", latency_ms=4.0, latency_inferences=20),
    ]
    bench = section(render_markdown(report), "Benchmark")
    assert (
        "Fastest where measured: litert, 0.50 ms median on the build machine "
        "(then tvm 8.00×, c 16.00×)." in bench
    )


def board_row(backend: str, runner: str, **figures) -> dict:
    """A validation row of ``backend`` run by ``runner``, bit-exact unless ``figures`` say."""
    row = {"backend": backend, "runner": runner, "reference": REFERENCE, "inputs": 20}
    row.update(bit_exact=True, max_abs_diff=0, top1_agreement=1.0)
    return {**row, "float_top1_agreement": None, "top1": None, **figures}


def make_deploy_report() -> dict:
    """``edgekit deploy`` ran the rpi4 build's artifacts on a Raspberry Pi; tvm failed there."""
    report = make_report()
    ok = {"status": "ok", "precision": "int8", "latency_inferences": 20}
    report["deploy"] = {
        "host": "pi@board",
        "remote_dir": "edgekit-rpi4",
        "machine": "Linux aarch64",
        "python": "Python 3.11.2",
        "inputs": 20,
        "reference": REFERENCE,
        "when": "2026-11-28T21:00:00Z",
        "fastest": "litert",
        "results": [
            board_row("c", "ssh pi@board", float_top1_agreement=0.95, latency_ms=120.0,
                      command="./c/linux/model_run validation/input.bin validation/c.bin", **ok),
            board_row("litert", "ssh pi@board", bit_exact=False, max_abs_diff=9,
                      float_top1_agreement=1.0, latency_ms=30.0,
                      command="python3 litert/run.py litert/model.tflite", **ok),
            {"backend": "tvm", "status": "failed", "precision": "float32-simulated int8",
             "error": "tvm failed on pi@board (exit 1): No module named 'tvm'"},
        ],
    }  # fmt: skip
    return report


def make_flash_report(emulated: bool = False) -> dict:
    """``edgekit flash --validate`` ran the cortex-m7 build's firmware on an STM32F746G-DISCO
    through an ST-Link (or, ``emulated``, on QEMU's virtual board)."""
    report = make_mcu_report()
    runner = "qemu-system-arm mps2-an500" if emulated else "stm32f746g-disco"
    row = board_row("c", runner, inputs=10, status="ok", precision="int8")
    row.update(
        cycles=None if emulated else 1_234_567.0,
        latency_ms=None if emulated else 5.716,
        instructions=9_876_543 if emulated else None,
        qemu_instructions=9_876_543,
        qemu_runner="qemu-system-arm mps2-an500",
    )
    report["flash"] = {
        "kind": "flash",
        "host": "QEMU mps2-an500" if emulated else "ST-Link V2-1 (066DFF)",
        "machine": f"{BOARD} (Cortex-M7)",
        "board": "stm32f746g-disco",
        "emulated": emulated,
        "image": "c/firmware/firmware.elf",
        "programmed_bytes": 494002,
        "pyocd_target": None if emulated else "stm32f746nghx",
        "clock_hz": None if emulated else 216_000_000,
        "inputs": 10,
        "when": "2026-11-28T21:00:00Z",
        "fastest": None,
        "reference": REFERENCE,
        "results": [row],
    }
    return report


def test_deploy_section_shows_the_board_results_and_failures():
    assert "On the board" not in render_markdown(make_report())
    report = make_deploy_report()
    board = section(render_markdown(report), "On the board")
    assert "Deployed to pi@board (Linux aarch64, Python 3.11.2)" in board
    assert "Fastest where measured: litert, 30.00 ms median on Linux aarch64 (then c 4.00×)." in (
        board
    )
    assert "| c | int8 | ok | yes | 0 | 100.00% | 95.00% | 120.00 ms | 4.00× |" in board
    assert "| tvm | float32-simulated int8 | failed | — | — | — | — | — | — |" in board
    assert "Failed — tvm: tvm failed on pi@board (exit 1): No module named 'tvm'" in board
    assert "On the board" in render_html(report)


def test_flash_section_comes_from_the_flash_record():
    board = section(render_markdown(make_flash_report()), "On the board")
    assert (
        "Flashed with pyOCD (target type stm32f746nghx) through probe ST-Link V2-1 (066DFF) onto "
        f"{BOARD} (Cortex-M7) at 2026-11-28T21:00:00Z: image c/firmware/firmware.elf, "
        f"programmed and verified; 10 evaluation inputs, compared with {REFERENCE}" in board
    )
    assert "those cycles at 216 MHz" in board
    assert "| c | ok | yes | 0 | 100.00% | — | 1,234,567 | 5.72 ms | 9,876,543 |" in board
    board = section(render_markdown(make_flash_report(emulated=True)), "On the board")
    assert "Run by 'edgekit flash --emulate' on the virtual board" in board
    assert "| c | ok | yes | 0 | 100.00% | — | — | — | 9,876,543 |" in board
    assert "Deployed to" not in board


def test_html_per_layer_instruction_chart_in_network_order_with_the_costliest_in_red():
    report = make_mcu_report()
    page = render_html(report)
    assert page.count("<svg") == 3  # SQNR, confusion, instructions
    chart = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)[2]
    layers = report["benchmark"][0]["layers"]
    positions = [
        chart.index(f"{i} {short_layer_name(layer['name'])}<") for i, layer in enumerate(layers)
    ]
    assert positions == sorted(positions)  # one row per layer, first layer on top
    assert "mobilenet_v2_1" not in chart and "Relu6" not in chart
    total = sum(layer["instructions"] for layer in layers)
    shares = sorted((layer["instructions"] / total for layer in layers), reverse=True)
    for share in shares[:10]:
        assert f" {share:.1%}<" in chart  # the ten most expensive are labelled with their share
    assert f" {shares[10]:.1%}<" not in chart
    assert "10 most expensive layers" in chart
    assert "<details><summary>All 65 rows</summary>" in page
    assert "Per-layer instructions" not in render_markdown(report)


def test_html_escapes_new_fields_and_markdown_keeps_tables_intact():
    report = make_mcu_report()
    evil = "<img src=x onerror=alert(1)>"
    report["artifacts"][-1]["peak_layer"] = f"mobilenet_v2_1/{evil}_1/Relu6"
    report["benchmark"][0]["layers"][5]["name"] = f"mobilenet_v2_1/{evil}_1/Relu6"
    report["benchmark"][0]["layers"][6]["name"] = "mobilenet_v2_1/cost_$x$_1/Relu6"
    report["validation"][0]["reference"] = "ref | <u>"
    report["target_info"]["board"] = "board <i>"
    page = render_html(report)
    assert "<img" not in page and "<u>" not in page and "<i>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in visible_text(page)
    assert "5 &lt;img src=x onerror=alert(1)&gt;<" in page.split("<svg")[3]
    assert "6 cost_$x$<" in page.split("<svg")[3]  # drawn as written, not as math
    md = render_markdown(report)
    assert "ref \\| &lt;u&gt;" in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    assert "<" not in md.replace("&lt;", "")


def test_mcu_html_is_self_contained():
    page = render_html(make_mcu_report())
    assert not re.search(r"<script|<link|<iframe|@import|url\((?!#)", page, re.I)
    assert not re.search(r"(src|href)=\"(?!#|data:)", page)


def onnx_method(method: str, top1: float, agreement: float, samples: int, capped: bool) -> dict:
    return {
        "method": method,
        "calibration_samples": samples,
        "calibration_capped": capped,
        "top1": top1,
        "top5": 1.0,
        "top1_agreement_with_float": agreement,
        "model_bytes": 648431,
        "path": f"onnx/model_int8_{method}.onnx",
        "computes_in": "mixed: 40 ops on integer kernels, 25 (10 Add, 15 Conv) as "
        "dequantize -> float32 -> quantize",
        "executed_ops": {
            "integer": {"QLinearConv": 37, "QGemm": 1},
            "float": {"Conv": 15, "Add": 10},
        },
        "host_integer_kernels_top1": None,
        "identical_to": None,
        "quantize_seconds": 1.8,
        "evaluate_seconds": 0.3,
    }


def host_int8_path(flags: set[str], reason: str) -> dict:
    from edgekit.templates.run_onnxruntime import int8_path

    return {**int8_path("x86_64", flags), "reason": reason}


def make_onnx_report() -> dict:
    """An x86_64 build (AVX-512 VNNI) with ONNX Runtime's int8 models beside the TFLite one."""
    report = make_report()
    report["accuracy"]["int8_runtime"] = "LiteRT builtin int8 kernels, host"
    report["onnx"] = {
        "runtime": "ONNX Runtime 1.32.0, CPUExecutionProvider",
        "host": "x86_64",
        "precision": "int8 QDQ (per-channel int8 weights, int8 activations)",
        "opset": 17,
        "reduce_range": False,
        "host_int8_path": host_int8_path(
            {"avx2", "avx512bw", "avx512_vnni"},
            "this CPU's integer kernels sum in int32, as the board's do",
        ),
        "float_path": "onnx/model_float.onnx",
        "float_bytes": 1658260,
        "float_max_abs_diff_vs_keras": 1.1e-06,
        "float_top1": 0.9805,
        "float_top5": 1.0,
        "calibration_samples": 128,
        "histogram_budget_bytes": 1073741824,
        "methods": [
            onnx_method("minmax", 0.9805, 0.9944, 128, False),
            onnx_method("entropy", 0.9749, 0.9889, 64, True),
            onnx_method("percentile", 0.9777, 0.9916, 128, False),
        ],
    }
    return report


def test_onnx_section_sits_beside_the_tflite_accuracy():
    report = make_onnx_report()
    md = render_markdown(report)
    assert md.index("## Accuracy: float vs int8") < md.index("## ONNX Runtime int8")
    assert md.index("## ONNX Runtime int8") < md.index("## Per-layer SQNR")
    onnx = section(md, "ONNX Runtime int8")
    assert (
        "Evaluated with ONNX Runtime 1.32.0, CPUExecutionProvider on x86_64: int8 QDQ "
        "(per-channel int8 weights, int8 activations); opset 17." in onnx
    )
    assert "differ from the Keras model's by at most 1.1e-06 (max abs difference)." in onnx
    computes = "mixed: 40 ops on integer kernels, 25 (10 Add, 15 Conv) as dequantize -&gt; "
    assert (
        "| TFLite int8 (LiteRT builtin int8 kernels, host) | 96.38% | 99.72% | 98.89% "
        "| 390.6 KiB | — | 128 |" in onnx
    )
    assert "| ONNX float32 | 98.05% | 100.00% | — | 1.6 MiB | float32 | — |" in onnx
    assert (
        f"| ONNX int8, minmax calibration | 98.05% | 100.00% | 99.44% | 633.2 KiB | {computes}"
        "float32 -&gt; quantize | 128 |" in onnx
    )
    assert "| ONNX int8, entropy calibration | 97.49% | 100.00% | 98.89% |" in onnx
    assert "| 64 of 128 (capped) |" in onnx
    assert "| ONNX int8, percentile calibration | 97.77% |" in onnx
    rows = [line for line in onnx.splitlines() if line.startswith("| ONNX int8")]
    assert len(rows) == 3
    assert "the 1.0 GiB histogram budget." in onnx
    page = render_html(report)
    assert "<h2>ONNX Runtime int8</h2>" in page
    assert "<td class=num>98.05%</td><td class=num>100.00%</td><td class=num>99.44%</td>" in page
    assert "dequantize -&gt; float32 -&gt; quantize" in page
    assert not re.search(r"<script|<link|<iframe|@import|url\((?!#)", page, re.I)


def test_onnx_section_with_figures_missing_says_so_and_never_none():
    report = make_onnx_report()  # as with fewer than 5 classes and no float model to compare
    onnx = report["onnx"]
    onnx.update(float_max_abs_diff_vs_keras=None, float_top5=None)
    for m in onnx["methods"]:
        m.update(top5=None, calibration_capped=False)
    report["accuracy"].update(int8_top5=None, top1_agreement=None)
    md, page = render_markdown(report), render_html(report)
    text = section(md, "ONNX Runtime int8")
    assert "max abs difference not measured" in text
    runtime = report["accuracy"]["int8_runtime"]
    assert f"| TFLite int8 ({runtime}) | 96.38% | — | — | 390.6 KiB | — | 128 |" in text
    assert "| ONNX float32 | 98.05% | — | — | 1.6 MiB | float32 | — |" in text
    assert "| ONNX int8, minmax calibration | 98.05% | — | 99.44% | 633.2 KiB |" in text
    assert "capped" not in text.lower()
    for shown in (md, visible_text(page)):
        assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b|\binf\b", shown)
    onnx["methods"] = []
    text = section(render_markdown(report), "ONNX Runtime int8")
    assert "| ONNX float32 |" in text and "| ONNX int8" not in text


def test_onnx_section_says_which_int8_path_ran_the_models_and_why():
    report = make_onnx_report()
    onnx = section(render_markdown(report), "ONNX Runtime int8")
    assert (
        "Int8 path on this host: ONNX Runtime's integer kernels are x86 AVX512-VNNI vpdpbusd, "
        "int32 sums (CPU features read: avx2, avx512_vnni, avx512bw); the models ran on integer "
        "kernels: this CPU's integer kernels sum in int32, as the board's do. Weights keep all "
        "8 bits (reduce_range off): the model is the one the board runs." in onnx
    )
    assert "scored" not in onnx
    # an AVX2-only host: the models ran as written, and the saturating kernels' score is shown
    report["onnx"]["host_int8_path"] = host_int8_path({"avx2"}, "its kernels could saturate")
    for m, top1 in zip(report["onnx"]["methods"], (0.9526, 0.9526, 0.9582)):
        m["host_integer_kernels_top1"] = top1
    onnx = section(render_markdown(report), "ONNX Runtime int8")
    assert (
        "integer kernels are x86 AVX2 vpmaddubsw, u8 x s8 pairs summed in int16 (CPU features "
        "read: avx2); the models ran as written, dequantize -&gt; float32 -&gt; quantize: its "
        "kernels could saturate." in onnx
    )
    assert (
        "On this host's integer kernels they scored top-1 95.26% (minmax), 95.26% (entropy), "
        "95.82% (percentile)." in onnx
    )
    report["onnx"]["reduce_range"] = True
    report["onnx"]["host_int8_path"].update(machine="aarch64", cpu_features=None)
    onnx = section(render_markdown(report), "ONNX Runtime int8")
    assert "(CPU features read: not read)" in onnx
    assert "Weights were quantized to 7 bits (reduce_range on)." in onnx


def test_no_onnx_block_renders_no_onnx_section():
    report = make_report()
    md, page = render_markdown(report), render_html(report)
    assert "ONNX" not in md and "ONNX" not in page


def test_onnx_fields_are_escaped():
    report = make_onnx_report()
    evil = "<img src=x onerror=alert(1)>"
    report["onnx"]["runtime"] = f"ORT | {evil}"
    report["onnx"]["host"] = "<b>host</b>"
    report["onnx"]["methods"][0]["method"] = "min|max <i>"
    report["onnx"]["methods"][1]["computes_in"] = evil
    report["accuracy"]["int8_runtime"] = "<u>litert</u>"
    page = render_html(report)
    assert "<img" not in page and "<b>host" not in page and "<i>" not in page
    assert "<u>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in visible_text(page)
    md = render_markdown(report)
    assert "ORT \\| &lt;img" in md and "min\\|max &lt;i&gt;" in md
    assert "<" not in md.replace("&lt;", "")
    onnx = section(md, "ONNX Runtime int8")
    assert all(line.count(" | ") == 6 for line in onnx.splitlines() if line.startswith("| ONNX"))


def test_no_instruction_footnote_where_qemu_user_mode_counted_nothing():
    report = make_report()
    report["benchmark"] = [benchmark_row("c", "qemu-aarch64 -cpu cortex-a72")]
    assert "counted by QEMU" not in section(render_markdown(report), "Benchmark")


def test_a_calibration_method_that_made_another_ones_model_is_named():
    report = make_onnx_report()
    methods = report["onnx"]["methods"]
    assert [m["method"] for m in methods][:2] == ["minmax", "entropy"]
    methods[1]["identical_to"] = "minmax"
    onnx = section(render_markdown(report), "ONNX Runtime int8")
    assert "entropy made the same model as minmax, byte for byte (ONNX Runtime's" in onnx
    assert "tries only one threshold: the full range)." in onnx
    methods[1]["identical_to"] = None
    assert "byte for byte" not in section(render_markdown(report), "ONNX Runtime int8")


def test_kernel_variants_section_sums_each_variants_layers_and_the_layer_table_names_them():
    report = make_mcu_report()
    layers = report["benchmark"][0]["layers"]
    kinds = [("conv2d_1x1_dsp", "CONV_2D"), ("depthwise_conv2d_3x3_dsp", "DEPTHWISE_CONV_2D")]
    rows = [
        {"layer": layer["name"], "op": kinds[i % 2][1], "variant": kinds[i % 2][0]}
        for i, layer in enumerate(layers)
    ]
    rows[-1]["variant"] = None  # a RESHAPE runs no kernel
    report["artifacts"][-1]["kernels"] = {"mode": "auto", "layers": rows}
    md = section(render_markdown(report), "Kernel variants: c")
    conv = sum(x["instructions"] for i, x in enumerate(layers[:-1]) if i % 2 == 0)
    dw = sum(x["instructions"] for i, x in enumerate(layers[:-1]) if i % 2 == 1)
    n_conv = sum(1 for r in rows if r["variant"] == "conv2d_1x1_dsp")
    n_dw = sum(1 for r in rows if r["variant"] == "depthwise_conv2d_3x3_dsp")
    assert f"| conv2d_1x1_dsp | CONV_2D | {n_conv} | {conv:,} | {conv / (conv + dw):.2%} |" in md
    assert f"| DEPTHWISE_CONV_2D | {n_dw} | {dw:,} | {dw / (conv + dw):.2%} |" in md
    first, second = ("conv2d_1x1", "depthwise_conv2d") if conv > dw else ("depthwise", "conv2d_1x1")
    assert md.index(f"| {first}") < md.index(f"| {second}")  # the costliest first
    assert "why faster variants were passed over" in md
    page = render_html(report)
    assert "<th>Kernel</th>" in page and "<td>depthwise_conv2d_3x3_dsp</td>" in page
    # a benchmark that did not count layers gives no instructions, never zeros
    report["benchmark"][0]["layers"] = []
    md = section(render_markdown(report), "Kernel variants: c")
    assert f"| conv2d_1x1_dsp | CONV_2D | {n_conv} | — | — |" in md
