"""SimVQ-GAN training loop (functional JAX over Flax NNX modules).

One optimiser step = ``grad_accum`` micro-batches (optax.MultiSteps). Batch ``i`` depends only on
(seed, i) and there is no other randomness, so resuming from a checkpoint replays exactly the run
that was interrupted. Batches are sharded over a 1-D ``data`` mesh (every device); parameters
are replicated, and XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from genotool.errors import UserError
from genotool.log import log

from genotool_codec import losses
from genotool_codec.checkpoint import CKPT_DIR, Checkpoints
from genotool_codec.config import bits_per_sample, hop, model_fingerprint
from genotool_codec.model_io import export_model


class Trainer:
    """Holds the jitted steps for one config so tests and bench can reuse the compiled functions.

    ``precision`` (the plan's): under bf16-mixed/fp16-mixed the generator's encoder and decoder
    run forward and backward in that dtype from float32 master weights (see runtime.cast_for_compute).
    """

    def __init__(self, cfg: dict, mesh=None, precision: str | None = None):
        from flax import nnx

        from genotool_codec.models import build
        from genotool_codec.runtime import compute_dtype

        self.cfg = cfg
        self.mesh = mesh
        self.dtype = compute_dtype(precision)
        gen, disc = build(cfg["model"], seed=int(cfg["train"]["seed"]))
        self.g_def, g_params, g_rest = nnx.split(gen, nnx.Param, ...)
        self.d_def, d_params = nnx.split(disc, nnx.Param)
        self.g_tx = self._optimiser(float(cfg["train"]["learning_rate"]))
        self.d_tx = self._optimiser(float(cfg["train"]["disc_learning_rate"]))
        self._init_state(g_params, g_rest, d_params)
        self._compile_steps()

    def _optimiser(self, lr: float):
        """AdamW with global-norm clipping, optional cosine schedule and gradient accumulation."""
        import optax

        t = self.cfg["train"]
        if t.get("schedule", "constant") == "cosine":
            # Warm-up then cosine decay to 5% over train.steps (a step-indexed schedule keeps
            # resuming exact; with --max-minutes set train.steps to what fits the budget).
            warm = int(t.get("warmup_steps", 100))
            lr = optax.warmup_cosine_decay_schedule(0.0, lr, warm, max(int(t["steps"]), warm + 1),
                                                    end_value=0.05 * lr)
        tx = optax.chain(optax.clip_by_global_norm(float(t["grad_clip"])),
                         optax.adamw(lr, b1=float(t["b1"]), b2=float(t["b2"]), weight_decay=float(t["weight_decay"])))
        if int(t["grad_accum"]) > 1:
            tx = optax.MultiSteps(tx, every_k_schedule=int(t["grad_accum"]))
        return tx

    def _init_state(self, g_params, g_rest, d_params) -> None:
        """The whole training state as one pytree, replicated over the mesh when there is one."""
        import jax
        import jax.numpy as jnp
        from jax.sharding import NamedSharding, PartitionSpec as P

        self.state = {"g_params": g_params, "g_rest": g_rest, "g_opt": self.g_tx.init(g_params),
                      "d_params": d_params, "d_opt": self.d_tx.init(d_params), "step": jnp.zeros((), jnp.int32)}
        if self.mesh is not None:
            self.rep = NamedSharding(self.mesh, P())
            self.batch_sharding = NamedSharding(self.mesh, P("data"))
            self.state = jax.device_put(self.state, self.rep)
        else:
            self.rep = self.batch_sharding = None

    def _compile_steps(self) -> None:
        """Jit the generator step (losses, update, codebook stats) and the discriminator step."""
        import jax
        import jax.numpy as jnp
        import optax
        from flax import nnx

        from genotool_codec.models.quantizer import usage_stats
        from genotool_codec.runtime import cast_for_compute

        m, t = self.cfg["model"], self.cfg["train"]
        w, beta, k, dt = t["loss_weights"], float(t["beta"]), int(m["codebook_size"]), self.dtype
        g_def, d_def, g_tx, d_tx = self.g_def, self.d_def, self.g_tx, self.d_tx

        def gen_loss(g_params, g_rest, d_params, x, n_active, gan: bool):
            """x (B, T, 1) float32 -> (total loss, (reconstruction (B, T, 1), codes (B, T/hop, n), logs))."""
            model = nnx.merge(g_def, cast_for_compute(g_params, dt), g_rest)
            z = model.encoder(x.astype(dt)).astype(jnp.float32)
            zq, aux = model.quantizer(z, n_active=n_active)
            y = model.decoder(zq.astype(dt)).astype(jnp.float32)
            l1 = losses.time_l1(x, y)
            vq = aux["codebook_loss"] + beta * aux["commit_loss"]
            total = w["time_l1"] * l1 + w["commit"] * vq
            logs = {"time_l1": l1, "vq_loss": vq}
            if gan:
                disc = nnx.merge(d_def, d_params)
                fake_logits, fake_feats = disc(y)
                _, real_feats = disc(x)
                adv = losses.hinge_g(fake_logits)
                fm = losses.feature_matching(real_feats, fake_feats)
                total = total + w["gan"] * adv + w["feature"] * fm
                logs.update(gan_g=adv, feature=fm)
            logs["g_total"] = total
            return total, (y, aux["idx"], logs)

        def g_step(state, x, n_active, gan: bool):
            x = x[..., None]
            grads, (y, idx, logs) = jax.grad(gen_loss, has_aux=True)(
                state["g_params"], state["g_rest"], state["d_params"], x, n_active, gan)
            updates, g_opt = g_tx.update(grads, state["g_opt"], state["g_params"])
            g_params = optax.apply_updates(state["g_params"], updates)
            usage, ppl = usage_stats(idx, k)
            logs.update(usage=jnp.mean(usage), perplexity=jnp.mean(ppl), usage_l0=usage[0], perplexity_l0=ppl[0],
                        grad_norm=optax.global_norm(grads))
            new = dict(state, g_params=g_params, g_opt=g_opt, step=state["step"] + 1)
            return new, jax.lax.stop_gradient(y), logs

        def d_loss(d_params, x, y):
            disc = nnx.merge(d_def, d_params)
            real, _ = disc(x)
            fake, _ = disc(y)
            return losses.hinge_d(real, fake)

        def d_step(state, x, y):
            x = x[..., None]
            loss, grads = jax.value_and_grad(d_loss)(state["d_params"], x, y)
            updates, d_opt = d_tx.update(grads, state["d_opt"], state["d_params"])
            return dict(state, d_params=optax.apply_updates(state["d_params"], updates), d_opt=d_opt), loss

        self.g_step = jax.jit(g_step, static_argnames=("gan",), donate_argnums=(0,))
        self.d_step = jax.jit(d_step, donate_argnums=(0,))

    def put_batch(self, batch: np.ndarray):
        import jax

        if self.batch_sharding is not None:
            return jax.device_put(batch, self.batch_sharding)
        return jax.device_put(batch)

    def n_active(self, step: int) -> int:
        """Codebooks used at ``step``: all, or (quantizer dropout) 1..n uniformly; depends on step only.
        ``train.active_codebooks = N > 0`` fixes it at N (no dropout): a model fine-tuned for one rate."""
        t, n = self.cfg["train"], int(self.cfg["model"]["n_codebooks"])
        if int(t.get("active_codebooks", 0)) > 0:
            return int(t["active_codebooks"])
        rng = np.random.default_rng([int(t["seed"]), step, 7])
        if n > 1 and rng.random() < float(t["quantizer_dropout"]):
            return int(rng.integers(1, n + 1))
        return n

    def micro_step(self, micro: int, batch, opt_step: int) -> dict:
        """One micro-batch: generator update (+ ``disc_steps`` discriminator updates once GAN is on)."""
        import jax.numpy as jnp

        t = self.cfg["train"]
        gan = opt_step >= int(t["disc_start"])
        na = jnp.asarray(self.n_active(micro), jnp.int32)
        self.state, y, logs = self.g_step(self.state, batch, na, gan=gan)
        if gan:
            for _ in range(int(t["disc_steps"])):
                self.state, dl = self.d_step(self.state, batch, y)
            logs = dict(logs, d_loss=dl)
        return logs

    def generator_state(self):
        from flax import nnx

        return nnx.State.merge(self.state["g_params"], self.state["g_rest"]) if hasattr(nnx.State, "merge") \
            else nnx.merge_state(self.state["g_params"], self.state["g_rest"])


class _Loggers:
    def __init__(self, run_dir: Path, cfg: dict):
        self.f = open(run_dir / "history.jsonl", "a")
        self.tb = self.wb = None
        t = cfg["train"]
        if t.get("tensorboard"):
            try:
                from tensorboardX import SummaryWriter  # type: ignore
            except ImportError:
                try:
                    from torch.utils.tensorboard import SummaryWriter  # type: ignore
                except ImportError:
                    SummaryWriter = None
            if SummaryWriter is None:
                raise UserError("train.tensorboard: install tensorboard (pip install tensorboard)")
            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        if t.get("wandb"):
            try:
                import wandb  # type: ignore
            except ImportError:
                raise UserError("train.wandb: wandb is not installed (pip install wandb)") from None
            self.wb = wandb.init(project="genotool-codec", mode="offline", dir=str(run_dir), config=cfg)

    def log(self, step: int, rec: dict):
        self.f.write(json.dumps({"step": step, **rec}) + "\n")
        self.f.flush()
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, step)
        if self.wb is not None:
            self.wb.log(rec, step=step)

    def close(self):
        self.f.close()
        if self.tb is not None:
            self.tb.close()
        if self.wb is not None:
            self.wb.finish()


def _restore(trainer: Trainer, ckpts: Checkpoints, resume_from: Path | None) -> int:
    """Load the latest checkpoint of this run (a killed run) or of ``resume_from``; returns the
    optimiser step to start from (0 when there is nothing to resume)."""
    import jax

    t = trainer.cfg["train"]
    src = None
    if ckpts.latest() is not None:
        src = ckpts
    elif resume_from is not None:
        rp = Path(resume_from)
        rp = rp / CKPT_DIR if (rp / CKPT_DIR).is_dir() else rp
        src = Checkpoints(rp, keep=int(t["keep_checkpoints"]))
        if src.latest() is None:
            raise UserError(f"--resume: no checkpoint found in {resume_from}")
    if src is None:
        return 0
    state, _ = src.restore(src.latest(), trainer.state, trainer.cfg["model"])
    trainer.state = jax.device_put(state, trainer.rep) if trainer.rep is not None else state
    start = int(jax.device_get(trainer.state["step"])) // int(t["grad_accum"])
    log(f"genotool: resuming from step {start} ({src.dir})")
    return start


def _progress_bar(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)


class _Clock:
    """Wall time of the run, of the first (compiling) step and of the steady-state steps after it."""

    def __init__(self, max_minutes: float | None):
        self.t0 = time.perf_counter()
        self.deadline = None if not max_minutes else self.t0 + 60 * max_minutes
        self.compile_s = self.t_steady = None
        self.steady_from = 0

    def first_step_done(self, step: int) -> None:
        if self.compile_s is None:
            self.compile_s = time.perf_counter() - self.t0
            self.t_steady, self.steady_from = time.perf_counter(), step

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def steady(self, step: int) -> tuple[int, float]:
        if self.t_steady is None:
            return 0, 0.0
        return step - self.steady_from, time.perf_counter() - self.t_steady


def _train_loop(trainer: Trainer, pf, ckpts: Checkpoints, loggers: _Loggers, meta: dict, clock: _Clock,
                start: int, total: int, progress: bool) -> tuple[int, dict, bool]:
    """Run micro-batches from the prefetcher until ``total`` optimiser steps or the deadline;
    log every ``log_every``, checkpoint every ``save_every`` (and at the end / the deadline).
    Returns (last step, last logged metrics, stopped early)."""
    import jax

    t = trainer.cfg["train"]
    accum, step, last = int(t["grad_accum"]), start, {}
    with _progress_bar(progress) as prog:
        task = prog.add_task("train", total=total, completed=start, info="")
        for micro, batch in pf:
            opt_step = micro // accum
            logs = trainer.micro_step(micro, batch, opt_step)
            if (micro + 1) % accum:
                continue
            step = opt_step + 1
            if clock.compile_s is None:
                jax.block_until_ready(trainer.state["step"])
                clock.first_step_done(step)
            if step % int(t["log_every"]) == 0 or step == total:
                last = {k: float(v) for k, v in jax.device_get(logs).items()}
                last["elapsed_s"] = round(clock.elapsed(), 2)
                loggers.log(step, last)
                prog.update(task, info=f"L1 {last['time_l1']:.3f} use {last['usage']:.2f} ppl {last['perplexity']:.0f}")
            prog.update(task, completed=step)
            if step % int(t["save_every"]) == 0 or step == total:
                ckpts.save(step, trainer.state, {**meta, "step": step})
            if clock.past_deadline() and step < total:
                ckpts.save(step, trainer.state, {**meta, "step": step})
                pf.close()
                return step, last, True
    return step, last, False


def fit(cfg: dict, windows: np.ndarray, run_dir: Path, *, resume_from: Path | None = None,
        max_minutes: float | None = None, progress: bool = True, data_info: dict | None = None,
        precision: str | None = None) -> dict:
    """Train into ``run_dir`` (checkpoints/, history.jsonl, model/); returns runtime metrics.

    ``windows`` (n_windows, window) float16/32 normalised signal.
    """
    import jax

    from genotool_codec.data import BatchSource, Prefetcher
    from genotool_codec.runtime import data_parallel_mesh

    t = cfg["train"]
    n_dev = jax.device_count()
    if int(t["batch_size"]) % n_dev:
        raise UserError(f"train.batch_size {t['batch_size']} is not divisible by the {n_dev} devices")
    trainer = Trainer(cfg, mesh=data_parallel_mesh()[0] if n_dev > 1 else None, precision=precision)
    ckpts = Checkpoints(Path(run_dir) / CKPT_DIR, keep=int(t["keep_checkpoints"]))
    start = _restore(trainer, ckpts, resume_from)
    accum, total = int(t["grad_accum"]), int(t["steps"])
    source = BatchSource(windows, int(t["batch_size"]), int(t["crop"]), int(t["seed"]))
    loggers = _Loggers(Path(run_dir), cfg)
    pf = Prefetcher(source.get, start * accum, total * accum, trainer.put_batch,
                    host_size=int(t["host_prefetch"]), device_size=int(t["device_prefetch"]))
    clock = _Clock(max_minutes)
    meta = {"config": cfg, "fingerprint": model_fingerprint(cfg["model"])}
    step, last, stopped_early = _train_loop(trainer, pf, ckpts, loggers, meta, clock, start, total, progress)
    jax.block_until_ready(trainer.state["step"])
    wall = clock.elapsed()
    ckpts.close()
    loggers.close()
    steady_steps, steady_s = clock.steady(step)
    extra = {"trained_steps": step, "data": data_info or {}, "hop": hop(cfg["model"]),
             "bits_per_sample": bits_per_sample(cfg["model"]), "final_metrics": last}
    export_model(Path(run_dir), jax.device_get(trainer.generator_state()), cfg, extra)
    samples_per_step = int(t["batch_size"]) * accum * source.crop
    return {"steps": step, "start_step": start, "stopped_early": stopped_early, "wall_seconds": round(wall, 2),
            "first_step_seconds_incl_compile": round(clock.compile_s or 0, 2),
            "steps_per_second": round(steady_steps / steady_s, 4) if steady_s > 0 else None,
            "samples_per_second": round(steady_steps * samples_per_step / steady_s, 1) if steady_s > 0 else None,
            "devices": n_dev, "final_metrics": last, "bits_per_sample": bits_per_sample(cfg["model"])}
