"""The shared option vocabulary: one name, type and default per concept, for every plugin.

Plugins annotate their verbs with these types instead of declaring their own, so ``--model``
means a trained model everywhere, ``--data`` a prepared-data folder everywhere, and so on::

    from genotool.options import Data, Model, Output, Device, Precision, BatchSize, Threads, Seed, Force

    @app.command()
    def predict(data: Data, model: Model, output: Output, device: Device = None,
                precision: Precision = None, batch_size: BatchSize = None, threads: Threads = None,
                force: Force = False): ...

The vocabulary (see docs/plugins.md for the table):

=====================  ===============================================================
``--output/-o``        what a verb writes (a folder, or a file for one-file outputs)
``--data/-d``          a folder written by the plugin's ``preprocess``
``--model/-m``         a trained model (a folder written by ``train``); only that
``--architecture``     which model family ``train`` builds (e.g. cnn, gnn)
``--device``           cpu, cuda, cuda:N, mps (default: the probe's choice)
``--precision``        auto, fp32, bf16-mixed, fp16-mixed (default: the verb's, else the probe's choice)
``--tf32/--no-tf32``   TF32 matmuls on Ampere+ GPUs (default: the probe's choice)
``--batch-size``       samples per step (default: the probe's choice, which the plugin caps)
``--threads``          torch/XLA intra-op CPU threads (default: the probe's choice)
``--num-workers``      data-loader worker processes
``--seed``             int, default 0
``--force``            replace an existing output (every verb that writes, benches included)
``--json``             also write a table (compare) as JSON to this file
``--scheduler``        none, cosine, onecycle, plateau (the engine's schedules)
``--test-regions``     held-out regions, CONTIG[:START-END],... (also ``--train-regions``,
                       ``--val-regions``; parsed by :mod:`genotool.genome.regions`)
``--num-<things>``     how many things a ``simulate`` verb makes (``--num-reads``, ``--num-samples``)
=====================  ===============================================================

Old spellings keep working as hidden aliases (:data:`HIDDEN_ALIASES`): the core installs
:class:`AliasedCommand` on every plugin command, which rewrites an alias to its canonical name
(with a one-line note on stderr) when the command has that canonical option. They are not shown
in ``--help``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional, get_args

import typer
from typer.core import TyperCommand

from genotool.log import log
from genotool.probe import PRECISIONS  # noqa: F401 - one list of precisions (the probe validates it)

# Scheduler names of the shared engine (genotool.engine.config imports these: one list).
SCHEDULERS = ("none", "cosine", "onecycle", "plateau")

Output = Annotated[Path, typer.Option("--output", "-o", help="Output folder (or file where the verb writes one file).")]
OptionalOutput = Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the result to this file.")]
Data = Annotated[Path, typer.Option("--data", "-d", help="A folder written by this plugin's `preprocess`.")]
OptionalData = Annotated[Optional[Path], typer.Option("--data", "-d",
                                                      help="A folder written by this plugin's `preprocess`.")]
Model = Annotated[Path, typer.Option("--model", "-m", help="A trained model: a folder written by `train`.")]
OptionalModel = Annotated[Optional[Path], typer.Option("--model", "-m",
                                                       help="A trained model: a folder written by `train`.")]
Architecture = Annotated[str, typer.Option("--architecture", help="Model family to build.")]
Device = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:N or mps; default: the probe's choice.")]
Precision = Annotated[Optional[str], typer.Option("--precision",
                                                  help="auto (the probe's choice), fp32, bf16-mixed or fp16-mixed; "
                                                  "default: the verb's, else the probe's choice.")]
TF32 = Annotated[Optional[bool], typer.Option("--tf32/--no-tf32", help="TF32 matmuls and convolutions on Ampere+ "
                                              "GPUs; default: the probe's choice (on where the GPU has TF32).")]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size",
                                                  help="Samples per batch; default: the probe's choice.")]
Threads = Annotated[Optional[int], typer.Option("--threads", help="torch/XLA intra-op CPU threads; default: the "
                                                "probe's choice (1 when the machine is oversubscribed).")]
NumWorkers = Annotated[Optional[int], typer.Option("--num-workers", help="Data-loader worker processes "
                                                   "(default: the plugin's).")]
Workers = NumWorkers  # old name of the type
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output.")]
Json = Annotated[Optional[Path], typer.Option("--json", help="Also write the table as JSON to this file.")]
_REGIONS = ("Comma-separated CONTIG or CONTIG:START-END (1-based, inclusive, as samtools writes regions); "
            "a feature counts only when wholly inside.")
TrainRegions = Annotated[Optional[str], typer.Option("--train-regions", help="Training regions. " + _REGIONS
                                                     + " Default: everything outside the val/test regions.")]
ValRegions = Annotated[Optional[str], typer.Option("--val-regions", help="Validation regions. " + _REGIONS)]
TestRegions = Annotated[Optional[str], typer.Option("--test-regions", help="Test regions. " + _REGIONS)]
Scheduler = Annotated[str, typer.Option("--scheduler", help="Learning-rate schedule: none, cosine (decay to 0), "
                                        "onecycle or plateau (the engine's schedules).")]

@dataclass(kw_only=True)
class RunOptions:
    """The run options of a verb that runs a model, for the verb's config dataclass to inherit.

    ``@dataclass class PredictOptions(RunOptions): data: Path ...`` gains ``device``,
    ``precision``, ``batch_size``, ``threads`` and ``tf32`` (keyword-only, so they never shift
    the verb's own positional fields), and :meth:`plan` turns them into the probe's plan: the
    one plan builder of every plugin (torch and JAX), each decision with its reason.
    """

    device: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    threads: int | None = None
    tf32: bool | None = None

    def plan(self, default_batch_size: int | None = None, *, backend: str = "torch", apply: bool = True,
             default_precision: str | None = None, cache_dir=None):
        """The probe's plan with these overrides, applied to the backend; the verb records it
        (``run.plan = plan``).

        * ``default_batch_size``: the verb's batch size when neither ``--batch-size`` nor the
          probe chooses one (source "default").
        * ``default_precision``: the verb's precision when ``--precision`` is not given (e.g.
          fp32 where mixed precision would change a published recipe); ``--precision auto``
          still asks for the probe's choice.
        * ``apply``: torch gets its CPU threads and TF32 mode (:func:`genotool.probe.apply_torch`);
          JAX its CPU threads (before JAX starts), matmul precision and compilation cache in
          ``cache_dir`` (:mod:`genotool.jaxrt`). What was set is in ``plan.applied``.
        """
        from genotool.probe import apply_torch, make_plan

        threads = {}
        if apply and backend == "jax":
            from genotool import jaxrt

            threads = jaxrt.limit_threads(self.threads)   # only works before JAX starts
        plan = make_plan(backend=backend, device=self.device, precision=self.precision, tf32=self.tf32,
                         batch_size=self.batch_size, cpu_threads=self.threads)
        if plan.batch_size is None and default_batch_size is not None:
            plan.override("batch_size", int(default_batch_size), "the verb's default", source="default")
        if self.precision is None and default_precision is not None and plan.precision != default_precision:
            plan.override("precision", default_precision, "the verb's default (--precision auto: the probe's choice)")
        if apply and backend == "torch":
            apply_torch(plan)
        elif apply and backend == "jax":
            from genotool import jaxrt

            plan.applied.update(threads, **jaxrt.configure(plan, cache_dir=cache_dir))
        return plan

    def parameters(self) -> dict:
        """The options as JSON-able values, for ``run_output(parameters=...)``."""
        from dataclasses import asdict

        from genotool.provenance import jsonable

        return jsonable(asdict(self))


#: Old spelling -> canonical option (``--flag=value``: an old on/off flag that became a value of an
#: option). Rewritten only in commands that have the canonical option.
HIDDEN_ALIASES: dict[str, str] = {
    "--data-dir": "--data",
    "--model-dir": "--model",
    "--output-dir": "--output",
    "--output-json": "--json",
    "--cpu-threads": "--threads",
    "--loader-num-workers": "--num-workers",
    "--n-reads": "--num-reads",
    "--reads": "--num-reads",
    "--n": "--num-sequences",
    "--batch": "--batch-size",   # gencode bench's semi-CRF batch B
    "-B": "--batch-size",
    "--files": "--num-files",
    "--test-chromosomes": "--test-regions",   # splice: whole chromosomes are regions too
    "--val-chromosomes": "--val-regions",
    "--train-chroms": "--train-regions",   # gencode preprocess: whole chromosomes are regions
    "--val-chroms": "--val-regions",
    "--test-chroms": "--test-regions",
    "--use-amp": "--precision=auto",   # srsnv: mixed precision where the GPU has it = the probe's choice
    "--use-tf32": "--tf32",
}


def described(option_type, help: str):
    """The vocabulary type ``option_type`` with a verb-specific help text (same flags, same type).

    ``Model`` says "a folder written by `train`"; a verb whose ``--model`` needs a more precise
    sentence writes ``described(Model, "A `srsnv train` output folder.")`` instead of declaring
    its own ``--model``.
    """
    base, info = get_args(option_type)[:2]
    info = copy.copy(info)
    info.help = help
    return Annotated[base, info]


def in_panel(option_type, panel: str):
    """The vocabulary type ``option_type`` shown under the ``--help`` panel ``panel`` (rich help
    groups a verb's many options into a few panels; flags, type and default stay the same)."""
    base, info = get_args(option_type)[:2]
    info = copy.copy(info)
    info.rich_help_panel = panel
    return Annotated[base, info]


def count_option(noun: str, help: str) -> object:
    """``--num-<noun>``: how many ``<noun>`` a simulate verb makes (the one spelling for counts)."""
    return typer.Option(f"--num-{noun}", help=help)


def check_choice(value: str, choices, option: str) -> str:
    """Raise a one-line UserError unless ``value`` is one of ``choices``."""
    from genotool.errors import UserError

    if value not in choices:
        raise UserError(f"{option} must be one of {', '.join(choices)}, not '{value}'")
    return value


class AliasedCommand(TyperCommand):
    """A Typer command that accepts the hidden old spellings of :data:`HIDDEN_ALIASES`."""

    def parse_args(self, ctx, args):
        names = {name for p in self.params for name in getattr(p, "opts", ()) + getattr(p, "secondary_opts", ())}
        # options that consume the next token as their value: that token is never an alias
        takes_value = {name for p in self.params if getattr(p, "param_type_name", "") == "option"
                       and not getattr(p, "is_flag", False) and not getattr(p, "count", False)
                       for name in p.opts}
        out, value_next = [], False
        for i, arg in enumerate(args):
            if arg == "--":
                out.extend(args[i:])
                break
            key, eq, rest = arg.partition("=")
            canonical = HIDDEN_ALIASES.get(key)
            name, _, value = (canonical or "").partition("=")
            if not value_next and canonical and name in names and key not in names:
                if value:   # an old flag that is now a value of an option: --use-amp -> --precision auto
                    log(f"note: {key} is now spelled {name} {value}")
                    out.extend([name, value])
                    continue
                log(f"note: {key} is now spelled {canonical}")
                key = canonical
                arg = canonical + eq + rest
            value_next = not value_next and not eq and key in takes_value
            out.append(arg)
        rest = super().parse_args(ctx, out)
        _check_outputs(self, ctx)
        return rest


#: Options whose value is a path the verb writes: checked before the verb starts.
OUTPUT_OPTIONS = ("--output", "--json")


def _check_outputs(command, ctx) -> None:
    """A path given to ``--output``/``--json`` that cannot be created (read-only folder, /sys,
    below a regular file) is a one-line error before the verb reads a byte of input."""
    from genotool.outputs import check_writable

    for p in command.params:
        opt = next((o for o in OUTPUT_OPTIONS if o in getattr(p, "opts", ())), None)
        value = ctx.params.get(p.name) if opt else None
        if value is not None and str(value) not in ("", "-"):
            check_writable(value, opt)


def install_aliases(app) -> None:
    """Give every command of a Typer app (and of its sub-apps) the :class:`AliasedCommand` class."""
    for info in getattr(app, "registered_commands", []):
        if info.cls is None or info.cls is TyperCommand:   # typer >= 0.12 fills in TyperCommand itself
            info.cls = AliasedCommand
    for group in getattr(app, "registered_groups", []):
        if group.typer_instance is not None:
            install_aliases(group.typer_instance)
