"""Suite-wide set-up. Triton's interpreter must be chosen before any kernel module is decorated,
so this runs first: Triton kernels then execute on CPU tensors (kernels.md, tier 3)."""

import os
import tempfile

os.environ.setdefault("TRITON_INTERPRET", "1")
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


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HOPE_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
