"""``./course data``: ``python -m segcourse.tooling.make_data --out data/scenes`` (see
:mod:`segcourse.data.scene_dataset`)."""
from ..data.scene_dataset import main

if __name__ == "__main__":
    raise SystemExit(main())
