from pathlib import Path

import pytest

from superalign import assets
from superalign.errors import ModelError


def test_missing_asset_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERALIGN_HOME", str(tmp_path))
    with pytest.raises(ModelError, match="superalign assets fetch --large"):
        assets.require("mpnet")


def test_sha_mismatch_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERALIGN_HOME", str(tmp_path))

    def fake_download(req: str, dest: Path, sdist: bool) -> Path:
        f = dest / "tampered.whl"
        f.write_bytes(b"not the real file")
        return f

    monkeypatch.setattr(assets, "_download", fake_download)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        assets.fetch("static")
    assert not assets.get("static").ready and not assets.get("static").path.exists()


def test_fetch_is_a_no_op_when_present(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERALIGN_HOME", str(tmp_path))
    a = assets.get("static")
    a.path.mkdir(parents=True)
    (a.path / ".complete").write_text("x")
    monkeypatch.setattr(assets, "_download", lambda *a: pytest.fail("downloaded again"))
    assert assets.fetch("static") == a.path
