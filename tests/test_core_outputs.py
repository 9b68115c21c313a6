"""Atomic outputs, run folders with metadata.json, the HTML report, bench JSON."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from genotool.bench import emit
from genotool.errors import UserError, require_file
from genotool.outputs import atomic_file, run_output, write_json
from genotool.report import Report


def test_atomic_file_renames_only_on_success(tmp_path):
    target = tmp_path / "a.txt"
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_file(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    with pytest.raises(UserError, match="already exists"):
        with atomic_file(target, force=False):
            pass


def test_run_output_writes_metadata_and_publishes(tmp_path):
    inp = tmp_path / "in.bam"
    inp.write_bytes(b"x" * 10)
    out = tmp_path / "run"
    with run_output(out, command="demo train", parameters={"lr": 1e-3, "path": inp}, inputs=[inp]) as run:
        assert run.path.name == "run.partial" and not out.exists()
        (run.path / "model.pt").write_text("weights")
        run.plan = {"device": "cpu", "precision": "fp32"}
        run.runtime["samples_per_second"] = 12.5
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["command"] == "demo train"
    assert meta["parameters"] == {"lr": 1e-3, "path": str(inp)}
    assert meta["inputs"][0]["size"] == 10 and "mtime" in meta["inputs"][0]
    assert meta["plan"]["precision"] == "fp32"
    assert meta["runtime"]["samples_per_second"] == 12.5 and meta["runtime"]["wall_seconds"] >= 0
    assert meta["software"]["versions"]["genotool"]
    assert (out / "model.pt").read_text() == "weights"
    assert not (tmp_path / "run.partial").exists()


def test_run_output_refuses_existing_then_force_replaces(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(UserError, match="--force"):
        with run_output(out, command="x"):
            pass
    assert (out / "old.txt").exists()
    with run_output(out, command="x", force=True) as run:
        (run.path / "new.txt").write_text("new")
    assert (out / "new.txt").exists() and not (out / "old.txt").exists()


def test_user_error_leaves_no_partial_but_crash_keeps_it_for_resume(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UserError):
        with run_output(out, command="x") as run:
            (run.path / "f").write_text("1")
            raise UserError("bad input")
    assert not (tmp_path / "run.partial").exists() and not out.exists()
    with pytest.raises(RuntimeError):
        with run_output(out, command="x") as run:
            (run.path / "checkpoint").write_text("epoch 2")
            raise RuntimeError("killed")
    assert (tmp_path / "run.partial" / "checkpoint").exists()
    with run_output(out, command="x") as run:
        assert run.resumed and (run.path / "checkpoint").read_text() == "epoch 2"
    with pytest.raises(RuntimeError):
        with run_output(out.with_name("b"), command="x") as run:
            (run.path / "checkpoint").write_text("old")
            raise RuntimeError
    with run_output(out.with_name("b"), command="x", resume=False) as run:
        assert not run.resumed and not (run.path / "checkpoint").exists()


def test_require_file_names_the_file(tmp_path):
    with pytest.raises(UserError, match="reads.bam"):
        require_file(tmp_path / "reads.bam", "BAM")


def test_report_embeds_png(tmp_path):
    rep = Report("demo report")
    fig = rep.figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    rep.add_figure("ROC", fig, png_path=tmp_path / "roc.png")
    rep.add_table("metrics", [{"metric": "auc", "value": 0.91234}])
    path = rep.write(tmp_path / "report.html")
    html = path.read_text()
    assert "data:image/png;base64," in html and "0.9123" in html
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_emits_exactly_one_json_object(tmp_path):
    buf = io.StringIO()
    with redirect_stdout(buf):
        emit({"samples_per_second": 10.0}, tmp_path / "b.json", plugin="demo")
    obj = json.loads(buf.getvalue())
    assert obj["plugin"] == "demo" and obj["peak_rss_mb"] > 0
    assert json.loads((tmp_path / "b.json").read_text())["samples_per_second"] == 10.0


def test_write_json_atomic(tmp_path):
    write_json(tmp_path / "x.json", {"a": 1})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}


def test_refuse_existing_is_a_one_line_error_unless_forced(tmp_path):
    from genotool.outputs import refuse_existing

    path = tmp_path / "bench.json"
    refuse_existing(path, force=False)            # absent: fine
    refuse_existing(None, force=False)            # no -o: fine
    path.write_text("{}")
    refuse_existing(path, force=True)             # --force: fine, the caller replaces it
    with pytest.raises(UserError, match=r"^--output: .*bench.json already exists \(use --force to replace it\)$"):
        refuse_existing(path, force=False)
