"""``./course retrain``: ``python -m segcourse.tooling.retrain [NAME ...] [--all] [--list]`` (see
:mod:`segcourse.checkpoints`)."""
from ..checkpoints import main

if __name__ == "__main__":
    raise SystemExit(main())
