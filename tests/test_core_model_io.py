"""genotool.engine.model_io: the one trained-model format (export_model / read_model / load_model)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from genotool.engine import model_io  # noqa: E402
from genotool.engine.model_io import MODEL_FORMAT, MODEL_VERSION, export_model, load_model, read_model  # noqa: E402
from genotool.errors import UserError  # noqa: E402


def build(cfg: dict) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(cfg["inputs"], cfg["hidden"]), torch.nn.ReLU(),
                               torch.nn.Linear(cfg["hidden"], 1))


@pytest.fixture
def exported(tmp_path):
    torch.manual_seed(0)
    net = build({"inputs": 3, "hidden": 5})
    export_model(net, tmp_path / "m", plugin="toy", config={"inputs": 3, "hidden": 5}, extra={"vocab": ["A", "C"]})
    return net, tmp_path / "m"


def one_line_error(excinfo, *words):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_round_trip_gives_the_same_outputs(exported):
    net, folder = exported
    assert (folder / "model.pt").is_file()
    assert json.loads((folder / "model_config.json").read_text()) == {"hidden": 5, "inputs": 3}
    loaded, payload = load_model(folder, build, plugin="toy")
    x = torch.randn(4, 3)
    assert torch.equal(loaded(x), net.eval()(x))
    assert not loaded.training
    assert payload["format"] == MODEL_FORMAT and payload["version"] == MODEL_VERSION
    assert payload["extra"] == {"vocab": ["A", "C"]} and payload["software"]["torch"] == torch.__version__
    # the file itself may be named too
    again, _ = load_model(folder / "model.pt", build, plugin="toy")
    assert torch.equal(again(x), loaded(x))


def test_named_models_and_wrapped_modules(tmp_path):
    net = build({"inputs": 2, "hidden": 2})
    wrapped = torch.nn.DataParallel(net)        # saved without the wrapper's "module." prefix
    export_model(wrapped, tmp_path, plugin="toy", config={"inputs": 2, "hidden": 2}, name="model_fold1")
    assert (tmp_path / "model_fold1.pt").is_file() and (tmp_path / "model_fold1_config.json").is_file()
    loaded, _ = load_model(tmp_path, build, plugin="toy", name="model_fold1")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), net.state_dict().values()))


def test_upgrade_fills_options_added_since(exported):
    _, folder = exported
    seen = {}

    def upgrade(cfg):
        seen.update(cfg)
        return {"hidden": 5, **cfg}   # an older config: the new key gets the old behaviour

    _, payload = load_model(folder, build, plugin="toy", upgrade=upgrade)
    assert seen == {"inputs": 3, "hidden": 5} and payload["config"]["hidden"] == 5


def test_wrong_plugin_is_one_line(exported):
    _, folder = exported
    with pytest.raises(UserError) as e:
        read_model(folder, plugin="other", option="--model")
    one_line_error(e, "--model", "'toy' model", "'other'")


def test_newer_format_version_is_one_line(exported):
    _, folder = exported
    payload = torch.load(folder / "model.pt", weights_only=False)
    payload["version"] = MODEL_VERSION + 1
    torch.save(payload, folder / "model.pt")
    with pytest.raises(UserError) as e:
        read_model(folder, plugin="toy")
    one_line_error(e, f"version {MODEL_VERSION + 1}", "upgrade genotool")


def test_truncated_file_is_one_line(exported):
    _, folder = exported
    path = folder / "model.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError) as e:
        load_model(folder, build, plugin="toy")
    one_line_error(e, str(path), "cannot be read")


@pytest.mark.parametrize("content", ["text", "torch-list"])
def test_foreign_file_is_one_line(tmp_path, content):
    path = tmp_path / "model.pt"
    if content == "text":
        path.write_text("not a model\n")
    else:
        torch.save([1, 2, 3], path)
    with pytest.raises(UserError) as e:
        read_model(tmp_path, plugin="toy")
    one_line_error(e, str(path))


def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(UserError) as e:
        read_model(tmp_path / "nope", plugin="toy", option="-m")
    one_line_error(e, "-m", "not a folder")
    with pytest.raises(UserError) as e:
        read_model(tmp_path, plugin="toy")
    one_line_error(e, "no model.pt", "toy train")


def test_weights_that_do_not_fit_the_config(exported):
    _, folder = exported
    cfg = json.loads((folder / "model_config.json").read_text())
    with pytest.raises(UserError) as e:
        load_model(folder, lambda c: build({**cfg, "hidden": 7}), plugin="toy")
    one_line_error(e, "weights do not fit")


def test_legacy_hook_reads_older_folders(tmp_path):
    torch.manual_seed(1)
    net = build({"inputs": 3, "hidden": 4})
    old = tmp_path / "old"
    old.mkdir()
    torch.save({"weights": net.state_dict(), "shape": [3, 4]}, old / "weights.pt")   # a pre-format layout
    calls = []

    def legacy(folder):
        calls.append(folder)
        ck = torch.load(folder / "weights.pt", weights_only=False)
        return {"config": {"inputs": ck["shape"][0], "hidden": ck["shape"][1]}, "state_dict": ck["weights"]}

    loaded, payload = load_model(old, build, plugin="toy", legacy=legacy)
    assert calls == [old] and payload["version"] == 0 and payload["extra"] == {}
    x = torch.randn(2, 3)
    assert torch.equal(loaded(x), net.eval()(x))
    # a legacy hook also sees a model.pt that is not in the format (the old file name reused)
    torch.save({"weights": net.state_dict(), "shape": [3, 4]}, old / "model.pt")
    load_model(old, build, plugin="toy", legacy=legacy)
    assert len(calls) == 2
    # a hook that finds nothing it knows gives the one-line error
    with pytest.raises(UserError) as e:
        read_model(tmp_path, plugin="toy", legacy=lambda folder: None)
    one_line_error(e, "holds no model this genotool can read")


def test_writes_are_atomic(exported, monkeypatch):
    net, folder = exported
    before = (folder / "model.pt").read_bytes()

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(model_io, "save_atomic", broken)
    with pytest.raises(OSError):
        export_model(net, folder, plugin="toy", config={"inputs": 3, "hidden": 5})
    assert (folder / "model.pt").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["model.pt", "model_config.json"]


def test_damaged_payload_and_unbuildable_config_are_one_line(exported):
    _, folder = exported
    payload = torch.load(folder / "model.pt", weights_only=False)
    broken = {k: v for k, v in payload.items() if k != "state_dict"}
    torch.save(broken, folder / "model.pt")
    with pytest.raises(UserError) as e:
        read_model(folder, plugin="toy")
    one_line_error(e, "damaged")
    torch.save({**payload, "config": {"inputs": 3}}, folder / "model.pt")   # "hidden" missing
    with pytest.raises(UserError) as e:
        load_model(folder, build, plugin="toy")
    one_line_error(e, "saved config", "KeyError")


class _Gadget:
    """Stands for any pickled Python object: unpickling it would run code chosen by the file."""


def test_a_model_file_runs_no_code_when_loaded(exported):
    _, folder = exported
    payload = torch.load(folder / "model.pt", weights_only=True)
    payload["extra"]["gadget"] = _Gadget()
    torch.save(payload, folder / "model.pt")
    with pytest.raises(UserError) as e:
        load_model(folder, build, plugin="toy")
    one_line_error(e, str(folder / "model.pt"), "not unpickle")


def test_numpy_values_are_stored_as_plain_data(tmp_path):
    np = pytest.importorskip("numpy")
    net = build({"inputs": 3, "hidden": 5})
    export_model(net, tmp_path / "m", plugin="toy", config={"inputs": np.int64(3), "hidden": 5},
                 extra={"means": np.array([0.5, 1.5], dtype=np.float32), "path": tmp_path})
    _, payload = load_model(tmp_path / "m", build, plugin="toy")
    assert payload["config"] == {"inputs": 3, "hidden": 5} and type(payload["config"]["inputs"]) is int
    assert payload["extra"] == {"means": [0.5, 1.5], "path": str(tmp_path)}
