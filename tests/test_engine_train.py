"""In-process Trainer behaviour: determinism, accumulation, early stopping, schedules, AMP, files."""

from __future__ import annotations

import csv
import json
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine_scripts"))
from engine_tiny import IndexedRegression, RegressionTask, make_model  # noqa: E402

from genotool.engine import Task, TrainConfig, Trainer, predict_loop  # noqa: E402
from genotool.engine.checkpoint import unwrap  # noqa: E402
from genotool.probe import make_plan  # noqa: E402

torch.set_num_threads(1)


def _cfg(**kw) -> TrainConfig:
    base = dict(max_epochs=2, lr=1e-2, batch_size=8, progress=False, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _fit(tmp, cfg, plan=None, model=None, task=None, n=48):
    model = model or make_model(seed=0)
    task = task or RegressionTask()
    trainer = Trainer(cfg, plan=plan, out_dir=tmp)
    result = trainer.fit(model, task, IndexedRegression(n), IndexedRegression(16, seed=9))
    return model, task, result, trainer


def test_same_seed_same_weights_different_seed_differs(tmp_path):
    a, ta, ra, _ = _fit(tmp_path / "a", _cfg())
    b, tb, rb, _ = _fit(tmp_path / "b", _cfg())
    c, tc, _, _ = _fit(tmp_path / "c", _cfg(seed=4))
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert ta.seen == tb.seen and ta.seen != tc.seen       # shuffle order follows the seed
    assert sorted(ta.seen[:48]) == list(range(48))          # one epoch = every sample once
    assert ra.history[-1]["val_loss"] == rb.history[-1]["val_loss"]


def test_grad_accumulation_matches_large_batch(tmp_path):
    """accum 2 x batch 8 == batch 16 (same sample order, SGD, no dropout, no clipping)."""
    common = dict(optimizer="sgd", momentum=0.0, shuffle=False, clip_grad_norm=None, max_epochs=2)
    m1 = make_model(seed=0, dropout=0.0)
    m2 = make_model(seed=0, dropout=0.0)
    _, _, r1, _ = _fit(tmp_path / "acc", _cfg(batch_size=8, grad_accum_steps=2, **common), model=m1)
    _, _, r2, _ = _fit(tmp_path / "big", _cfg(batch_size=16, grad_accum_steps=1, **common), model=m2)
    assert r1.global_step == r2.global_step == 6
    for k, v in m1.state_dict().items():
        torch.testing.assert_close(v, m2.state_dict()[k], rtol=1e-5, atol=1e-6)
    # ... and the odd tail group (5 micro-batches, accum 2) is averaged over its real size.
    m3 = make_model(seed=0, dropout=0.0)
    _, _, r3, _ = _fit(tmp_path / "tail", _cfg(batch_size=8, grad_accum_steps=2, **common),
                       model=m3, n=40)
    assert r3.global_step == 6  # ceil(5 / 2) per epoch


class WorseningTask(RegressionTask):
    """Validation loss that rises every epoch after the first: early stopping must fire."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def validation_metrics(self, model, loader):
        self.calls += 1
        return {"val_loss": float(self.calls), "val_score": -float(self.calls)}


def test_early_stopping_min_and_max(tmp_path):
    _, task, result, trainer = _fit(tmp_path / "min", _cfg(max_epochs=10, patience=2),
                                    task=WorseningTask())
    assert result.stopped_early and len(result.history) == 3 and task.calls == 3
    assert result.best_epoch == 1 and result.best_metric == 1.0
    assert torch.load(trainer.best_checkpoint, weights_only=False)["epoch"] == 1
    assert torch.load(trainer.last_checkpoint, weights_only=False)["epoch"] == 3

    _, _, res_max, _ = _fit(tmp_path / "max", _cfg(max_epochs=10, patience=1, monitor="val_score",
                                                   monitor_mode="max"), task=WorseningTask())
    assert res_max.stopped_early and len(res_max.history) == 2 and res_max.best_metric == -1.0


def test_unknown_monitor_is_reported(tmp_path):
    with pytest.raises(KeyError, match="val_auc"):
        _fit(tmp_path, _cfg(monitor="val_auc"))


@pytest.mark.parametrize("scheduler", ["none", "cosine", "onecycle", "plateau"])
def test_schedulers(tmp_path, scheduler):
    cfg = _cfg(max_epochs=3, scheduler=scheduler, min_lr_ratio=0.1, warmup_steps=2,
               plateau_patience=0, plateau_factor=0.5)
    task = WorseningTask() if scheduler == "plateau" else None
    _, _, result, _ = _fit(tmp_path, cfg, task=task)
    lrs = [row["lr"] for row in result.history]
    if scheduler == "none":
        assert lrs == [1e-2] * 3
    elif scheduler == "cosine":  # decays towards lr * min_lr_ratio at the last optimizer step
        assert lrs[0] > lrs[1] > lrs[2] > 1e-3 and lrs[2] < 1.2e-3
    elif scheduler == "onecycle":  # warms up to max_lr then anneals far below the start
        assert lrs[0] > 1e-2 / 25 and lrs[2] < 1e-5
    else:  # no improvement after epoch 1: halved after epoch 2 (row lr = lr used that epoch)
        assert lrs == pytest.approx([1e-2, 1e-2, 5e-3])


@pytest.mark.parametrize("precision", ["bf16-mixed", "fp16-mixed"])
def test_mixed_precision_on_cpu(tmp_path, precision):
    plan = make_plan(backend="torch", device="cpu", precision=precision,
                     hw={"cpu": {"cores": 2}, "torch": {}})
    seen_dtypes = []

    class Probe(RegressionTask):
        def training_step(self, model, batch):
            seen_dtypes.append(model(batch["x"]).dtype)
            return super().training_step(model, batch)

    model, _, result, trainer = _fit(tmp_path, _cfg(clip_grad_norm=1.0), plan=plan, task=Probe())
    want = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    assert set(seen_dtypes) == {want}                # autocast really was on
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in result.history)
    saved = torch.load(trainer.last_checkpoint, weights_only=False)
    assert (saved["scaler"] is not None) == (precision == "fp16-mixed")  # scaler only for fp16
    outs = predict_loop(model, [{"x": torch.randn(4, 6)}], lambda m, b: m(b["x"]), plan)
    assert outs[0].dtype == want and outs[0].shape == (4, 1)


def test_history_files_and_runtime_metrics(tmp_path):
    _, _, result, _ = _fit(tmp_path, _cfg(max_epochs=2))
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist == result.history and [r["epoch"] for r in hist] == [1, 2]
    with open(tmp_path / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for key in ("train_loss", "val_loss", "lr", "wait_seconds", "compute_seconds",
                "samples_per_second", "peak_memory_mb", "epoch_seconds"):
        assert key in rows[0], key
        assert float(rows[0][key]) >= 0 or key == "val_loss"
    assert next(iter(rows[0])) == "epoch"
    assert hist[0]["samples_per_second"] > 0 and hist[0]["peak_memory_mb"] > 0
    assert result.runtime["epochs"] == 2 and 0 <= result.runtime["wait_fraction"] <= 1
    assert not list(tmp_path.glob(".*tmp*")) and not list((tmp_path / "checkpoints").glob(".*tmp*"))


def test_fingerprint_mismatch_starts_fresh(tmp_path):
    _fit(tmp_path, _cfg(max_epochs=2))
    with pytest.warns(UserWarning, match="different configuration"):
        _, _, result, _ = _fit(tmp_path, _cfg(max_epochs=2, lr=5e-3))
    assert result.resumed_from_epoch == 0 and result.epochs_run == 2
    assert (tmp_path / "checkpoints" / "last.pt.stale").exists()
    # Same config again: resumes the finished run, trains nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, task, again, _ = _fit(tmp_path, _cfg(max_epochs=2, lr=5e-3))
    assert again.epochs_run == 0 and task.seen == [] and again.history == result.history


def test_runtime_only_fields_keep_the_fingerprint(tmp_path):
    _fit(tmp_path, _cfg(max_epochs=1))
    _, _, result, _ = _fit(tmp_path, _cfg(max_epochs=1, num_workers=1, persistent_workers=False,
                                          tensorboard=True))
    assert result.epochs_run == 0  # worker count/TensorBoard don't change the numbers: resumed


def test_tensorboard_and_load_best(tmp_path):
    model, _, result, trainer = _fit(tmp_path, _cfg(max_epochs=2, tensorboard=True))
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    fresh = make_model(seed=99)
    info = trainer.load_best(fresh)
    assert info["epoch"] == result.best_epoch
    best = torch.load(result.best_checkpoint, weights_only=False)["model"]
    assert all(torch.equal(fresh.state_dict()[k], best[k]) for k in best)


def test_compile_eager_backend_and_workers(tmp_path):
    """torch.compile wrapper (eager backend: no C++ toolchain needed) + a worker process."""
    model, _, result, _ = _fit(tmp_path, _cfg(max_epochs=1, compile=True, compile_backend="eager",
                                              num_workers=1, persistent_workers=True))
    saved = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)["model"]
    assert not any(k.startswith("_orig_mod") for k in saved)  # raw module's keys
    assert unwrap(model) is model and len(result.history) == 1


def test_task_base_requires_implementation():
    with pytest.raises(NotImplementedError):
        Task().training_step(None, None)
    with pytest.raises(ValueError):
        TrainConfig(scheduler="linear")


def test_rich_progress_renders(tmp_path):
    """The terminal progress bar path (normally only on a TTY) runs start to finish."""
    import io

    from rich.console import Console

    from genotool.engine.progress import RichProgress

    buf = io.StringIO()
    bar = RichProgress(max_epochs=2, console=Console(file=buf, force_terminal=True, width=100))
    bar.start_epoch(1, 4)
    bar.advance(2, 0.5)
    bar.advance(2, 0.25)
    bar.end_epoch({"epoch": 1, "train_loss": 0.25, "lr": 1e-3})
    bar.start_epoch(2, 4)
    bar.close()
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert "epoch 1: train_loss 0.25" in text and "epoch 1/2" in text


def test_is_main_process(monkeypatch):
    from genotool.engine import is_main_process

    monkeypatch.delenv("RANK", raising=False)
    assert is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()


class _Crash(Exception):
    pass


@pytest.mark.parametrize("scheduler,precision", [("plateau", "fp16-mixed"), ("cosine", "bf16-mixed")])
def test_resume_restores_scheduler_and_scaler(tmp_path, scheduler, precision):
    """Crash after epoch 2 (in-process), fit again: same weights, history and LR trail as one run."""
    from genotool.engine.metrics import TIMING_KEYS

    plan = make_plan(backend="torch", device="cpu", precision=precision, hw={"cpu": {"cores": 2}, "torch": {}})
    cfg = _cfg(max_epochs=4, scheduler=scheduler, plateau_patience=0, grad_accum_steps=2,
               clip_grad_norm=0.5, warmup_steps=3)

    def run(out, crash_at=None):
        trainer = Trainer(cfg, plan=plan, out_dir=out)
        if crash_at:
            def crash(tr, epoch, row):
                if epoch == crash_at:
                    raise _Crash
            trainer.add_callback(crash)
        model = make_model(seed=0)
        return model, trainer.fit(model, RegressionTask(), IndexedRegression(40), IndexedRegression(16, seed=9))

    ref_model, ref = run(tmp_path / "ref")
    with pytest.raises(_Crash):
        run(tmp_path / "run", crash_at=2)
    model, res = run(tmp_path / "run")
    assert res.resumed_from_epoch == 2 and res.epochs_run == 2
    for k, v in ref_model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    strip = lambda h: [{k: v for k, v in r.items() if k not in TIMING_KEYS | {"val_seconds"}} for r in h]  # noqa: E731
    assert strip(res.history) == strip(ref.history)
    if precision == "fp16-mixed":
        a = torch.load(tmp_path / "ref" / "checkpoints" / "last.pt", weights_only=False)["scaler"]
        b = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=False)["scaler"]
        assert a == b


def test_iterable_dataset_is_refused_clearly(tmp_path):
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield from ({"index": i, "x": torch.zeros(6), "y": torch.tensor(0.0)} for i in range(4))

    with pytest.raises(TypeError, match="map-style"):
        Trainer(_cfg(), out_dir=tmp_path).fit(make_model(), RegressionTask(), Stream())


def test_fingerprint_fields():
    base = TrainConfig()
    assert base.fingerprint(n=1) == TrainConfig(num_workers=4, progress=False).fingerprint(n=1)
    assert base.fingerprint(n=1) != TrainConfig(extra={"dropout": 0.1}).fingerprint(n=1)
    assert base.fingerprint(n=1) != TrainConfig(lr=2e-3).fingerprint(n=1)
    assert base.fingerprint(n=1) != base.fingerprint(n=2)  # context (data size, shapes) counts


def test_max_steps_per_epoch_and_checkpoint_cadence(tmp_path, monkeypatch):
    saved_epochs = []
    real_save = Trainer._save

    def spy(self, *args, **kwargs):
        saved_epochs.append(args[5])  # epoch
        return real_save(self, *args, **kwargs)

    class Flat(RegressionTask):  # never improves after epoch 1: only cadence/final saves follow
        def validation_metrics(self, model, loader):
            return {"val_loss": 1.0}

    monkeypatch.setattr(Trainer, "_save", spy)
    _, task, result, _ = _fit(tmp_path, _cfg(max_epochs=5, max_steps_per_epoch=2,
                                             checkpoint_every_epochs=2), task=Flat())
    assert result.global_step == 10 and len(task.seen) == 5 * 2 * 8
    assert saved_epochs == [1, 2, 4, 5]  # best (1), every 2nd epoch, and the last


def test_time_budget_stops_after_the_epoch_that_spends_it(tmp_path):
    """max_minutes: a tiny budget stops after epoch 1, with last.pt written for a later resume."""
    _, _, result, trainer = _fit(tmp_path, _cfg(max_epochs=5, max_minutes=1e-9))
    assert result.epochs_run == 1 and len(result.history) == 1
    assert result.runtime["stopped_by_time_budget"] is True and not result.stopped_early
    assert trainer.last_checkpoint.exists()
    # No budget: the same call continues from the checkpoint to max_epochs.
    _, _, again, _ = _fit(tmp_path, _cfg(max_epochs=5))
    assert again.resumed_from_epoch == 1 and len(again.history) == 5
    assert again.runtime["stopped_by_time_budget"] is False
