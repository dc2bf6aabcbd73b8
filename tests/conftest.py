"""Suite-wide set-up. Triton's interpreter must be chosen before any kernel module is decorated,
so this runs first: Triton kernels then execute on CPU tensors (kernels.md, tier 3)."""

import os
import tempfile

os.environ.setdefault("TRITON_INTERPRET", "1")
# onnxruntime writes a telemetry queue under the home folder when imported without this; the product
# sets it in personal_nl.onnx, and tests that import onnxruntime directly must not leave one either.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
# Rollback notes (privacy/rollback.py) go to a throw-away folder, never the real config folder; each
# test gets its own below, since tests copy one template store (one store id) into many folders.
os.environ["HOPE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="hope-config-")

import pytest  # noqa: E402
import torch  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _data_outside_home(tmp_path_factory):
    """Nothing a test writes lands in the person's data folder; converted models and decode graphs are
    cached in one folder for the run, so a tiny model is exported once, not once per test."""
    if "HOPE_DATA_DIR" in os.environ:
        yield
        return
    patch = pytest.MonkeyPatch()
    patch.setenv("HOPE_DATA_DIR", str(tmp_path_factory.mktemp("hope-data")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HOPE_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
