"""The shared option vocabulary holds in every installed plugin (issue 14).

Walks every verb of every loaded plugin (as test_core_cli's ``-h`` walk does) and checks that a
shared concept is spelled, typed and defaulted as ``genotool.options`` declares it, wherever it
appears; that every verb that writes has ``--force``; and that every verb that runs a model has
``--device``, ``--precision`` and ``--batch-size`` (and ``-m/--model`` to predict or validate).
A second test runs a real model with ``--precision bf16-mixed`` to show the option is honoured,
not only accepted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from genotool.options import HIDDEN_ALIASES, SCHEDULERS
from genotool.plugins import get_host

REQUIRED = object()   # the option has no default (typer marks it required)

# concept (CLI parameter name) -> (flags, value type, allowed defaults or a check). Typer reports
# the value type without Optional[...]; an optional value shows as the default None.
VOCABULARY = {
    "output": ({"--output", "-o"}, Path, {REQUIRED, None}),
    "data": ({"--data", "-d"}, Path, {REQUIRED, None}),
    "model": ({"--model", "-m"}, Path, {REQUIRED, None}),
    "architecture": ({"--architecture"}, str, lambda d: isinstance(d, str)),
    "device": ({"--device"}, str, {None}),
    "precision": ({"--precision"}, str, {None}),
    "tf32": ({"--tf32", "--no-tf32"}, bool, {None}),
    "batch_size": ({"--batch-size"}, int, {None}),
    "threads": ({"--threads"}, int, {None}),
    "num_workers": ({"--num-workers"}, int, {None}),
    "seed": ({"--seed"}, int, {0}),
    "force": ({"--force"}, bool, {False}),
    "json": ({"--json"}, Path, {None}),
    "scheduler": ({"--scheduler"}, str, lambda d: d in SCHEDULERS),
    "train_regions": ({"--train-regions"}, str, {None}),
    "val_regions": ({"--val-regions"}, str, {None}),
    "test_regions": ({"--test-regions"}, str, {None}),
}
FLAG_TO_CONCEPT = {flag: concept for concept, (flags, _, _) in VOCABULARY.items() for flag in flags}
MODEL_VERBS = ("train", "predict", "validate", "bench")
RUN_FLAGS = ("device", "precision", "batch_size")
# Verbs named like model verbs that run no network, with the reason (keep this list short).
NO_NETWORK = {
    ("srsnv", "validate"): "reads the holdout scores `srsnv train` wrote; the XGBoost baseline is CPU-only",
}


def _options(command) -> dict:
    """CLI parameter name -> the Typer option of one verb."""
    return {p.name: p for p in command.params if getattr(p, "param_type_name", "") == "option"}


def _concepts_of(name: str, opt) -> set[str]:
    """The shared concepts an option stands for: by its parameter name or by any core flag it uses."""
    flags = set(opt.opts) | set(opt.secondary_opts)
    found = {FLAG_TO_CONCEPT[f] for f in flags if f in FLAG_TO_CONCEPT}
    if name in VOCABULARY:
        found.add(name)
    return found


def _concepts(command) -> set[str]:
    return {c for name, opt in _options(command).items() for c in _concepts_of(name, opt)}


def _verbs():
    for group, rec in get_host().groups():
        cli = typer.main.get_command(rec.app)
        for verb, command in sorted(cli.commands.items()):
            yield pytest.param(group, verb, command, id=f"{group}-{verb}")


VERBS = list(_verbs())


def _default(opt):
    return REQUIRED if opt.required else opt.default


@pytest.mark.parametrize("group,verb,command", VERBS)
def test_shared_concepts_have_the_core_names_types_and_defaults(group, verb, command):
    problems = []
    for name, opt in _options(command).items():
        flags = set(opt.opts) | set(opt.secondary_opts)
        for concept in _concepts_of(name, opt):
            want_flags, value_type, defaults = VOCABULARY[concept]
            where = f"{group} {verb} {'/'.join(opt.opts)} ({name})"
            if flags != want_flags:
                problems.append(f"{where}: flags {sorted(flags)}, the core's are {sorted(want_flags)}")
            if opt.type_descriptor.annotation is not value_type:
                problems.append(f"{where}: type {opt.type_descriptor.annotation}, the core's is {value_type}")
            default = _default(opt)
            ok = defaults(default) if callable(defaults) else default in defaults
            if not ok or (concept == "seed" and type(default) is not int):
                problems.append(f"{where}: default {default!r}")
        for flag in flags & set(HIDDEN_ALIASES):
            problems.append(f"{group} {verb} declares {flag}, a hidden alias of {HIDDEN_ALIASES[flag]}")
        if verb == "simulate" and any(f == "--n" or f.startswith("--n-") for f in flags):
            problems.append(f"{group} {verb} {'/'.join(opt.opts)}: counts are spelled --num-<things>")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("group,verb,command", VERBS)
def test_writers_have_force_and_model_verbs_run_options(group, verb, command):
    opts = _concepts(command)
    problems = []
    if "output" in opts and "force" not in opts:
        problems.append("writes --output but has no --force")
    runs = [f for f in RUN_FLAGS if f in opts]
    runs_a_model = (verb in MODEL_VERBS and (group, verb) not in NO_NETWORK) or bool(runs)
    if runs_a_model:
        problems += [f"runs a model but lacks --{f.replace('_', '-')}" for f in RUN_FLAGS if f not in opts]
        if "force" not in opts:
            problems.append("runs a model but has no --force")
    if verb in ("predict", "validate") and "model" not in opts:
        problems.append("has no -m/--model")
    assert not problems, f"{group} {verb}: " + "; ".join(problems)


def test_the_walk_saw_the_plugins():
    groups = {p.values[0] for p in VERBS}
    assert "srsnv" in groups  # the walk is not vacuous
    assert len(VERBS) >= 6


# --- an accepted option must have an effect -------------------------------------------------------

def test_precision_is_honoured_not_only_accepted(hello, genotool_cli, tmp_path):
    pytest.importorskip("torch")
    sim, prep, model = tmp_path / "sim", tmp_path / "prep", tmp_path / "model"
    assert genotool_cli("hello", "simulate", "-o", str(sim), "--num-sequences", "120", "--length", "30",
                        "--seed", "2").exit_code == 0
    assert genotool_cli("hello", "preprocess", "-i", str(sim), "-o", str(prep)).exit_code == 0
    r = genotool_cli("hello", "train", "-d", str(prep), "-o", str(model), "--epochs", "1", "--channels", "8",
                     "--batch-size", "32", "--device", "cpu", "--precision", "bf16-mixed", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    plan = json.loads((model / "metadata.json").read_text())["plan"]
    assert (plan["device"], plan["precision"], plan["batch_size"], plan["cpu_threads"]) == ("cpu", "bf16-mixed", 32, 1)
    probs = {}
    for precision in ("fp32", "bf16-mixed"):
        out = tmp_path / f"pred-{precision}"
        r = genotool_cli("hello", "predict", "-m", str(model), "-d", str(prep), "-o", str(out), "--device", "cpu",
                         "--precision", precision)
        assert r.exit_code == 0, r.stderr
        assert json.loads((out / "metadata.json").read_text())["plan"]["precision"] == precision
        rows = (out / "predictions.tsv").read_text().splitlines()[1:]
        probs[precision] = [float(line.split("\t")[1]) for line in rows]
    # bf16 autocast rounds the convolutions: the scores move (a little), so the flag reached the model
    diffs = [abs(a - b) for a, b in zip(probs["fp32"], probs["bf16-mixed"])]
    assert max(diffs) > 1e-5 and max(diffs) < 0.1
