"""Every shipped checkpoint keeps the promise written in the checkpoint table, and stays small."""
import pytest

import segcourse as sc
from segcourse.checkpoints import CHECKPOINTS, METRICS, checkpoint_metric


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_shipped_checkpoint_keeps_its_promise(name):
    spec = CHECKPOINTS[name]
    assert spec.metric in METRICS
    value = checkpoint_metric(name)
    print(f"{name}: {spec.metric} = {value:.4f} (promised >= {spec.promise})")
    assert value >= spec.promise
    assert sc.checkpoint_path(name).stat().st_size < 4 * 2**20


def test_checkpoint_table_errors_name_the_argument():
    with pytest.raises(ValueError, match="name"):
        sc.load_checkpoint("nope")
    with pytest.raises(ValueError, match="name"):
        checkpoint_metric("nope")


def test_every_shipped_checkpoint_matches_its_recorded_checksum():
    from segcourse.checkpoints import file_sha256, recorded_checksums
    sums = recorded_checksums()
    assert set(sums) == {f"{name}.pt" for name in CHECKPOINTS}, "SHA256SUMS lists exactly the table's files"
    for name in CHECKPOINTS:
        assert file_sha256(sc.checkpoint_path(name)) == sums[f"{name}.pt"], name


def test_a_changed_checkpoint_file_is_refused(tmp_path, monkeypatch):
    import segcourse.checkpoints as C
    changed = tmp_path / "tiny_fcn.pt"
    data = bytearray(C.checkpoint_path("tiny_fcn").read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    monkeypatch.setattr(C, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    with pytest.raises(ValueError, match="checksum"):
        C.load_checkpoint("tiny_fcn")
