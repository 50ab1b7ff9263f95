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
