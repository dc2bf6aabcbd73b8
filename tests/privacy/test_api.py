"""The package surface: a few names, no model imports, errors that carry no user content."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import privacy
from privacy import PrivacyError, Store

ROOT = Path(__file__).resolve().parents[2]


def test_public_names_are_few_and_all_importable() -> None:
    for name in privacy.__all__:
        assert getattr(privacy, name)
    assert {"Vault", "Store", "AuditLog", "PrivacyError", "redact", "detect"} <= set(privacy.__all__)


def test_every_error_is_a_privacy_error() -> None:
    errors = [getattr(privacy, n) for n in privacy.__all__ if n not in ("redact", "detect")]
    for cls in (e for e in errors if isinstance(e, type) and issubclass(e, Exception)):
        assert issubclass(cls, PrivacyError)


def test_privacy_never_imports_model_code() -> None:
    probe = (
        "import sys, privacy, privacy.vault, privacy.store, privacy.export, privacy.audit;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'kernels', 'personal_nl', 'runtime')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_caller_errors_do_not_echo_payload_or_meta(store: Store) -> None:
    with pytest.raises(ValueError) as caught:
        store.append("episode", b"x", meta={"secret": float("inf"), "diary": "platypus-diary"})
    assert "platypus" not in str(caught.value)


def test_security_doc_cites_only_tests_that_exist() -> None:
    doc = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"((?:tests/[\w/]+/)?test_\w+\.py)::(test_\w+)", doc))

    def source(f: str) -> str:  # bare names are tests/privacy/ files; others carry their folder
        path = ROOT / f if f.startswith("tests/") else ROOT / "tests" / "privacy" / f
        return path.read_text() if path.is_file() else ""

    missing = [f"{f}::{t}" for f, t in cited if f"def {t}(" not in source(f)]
    assert cited and missing == []
