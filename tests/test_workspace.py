"""my-lessons/: a student's edits survive course updates and resets (segcourse.tooling.workspace)."""
import json
import subprocess
import sys

import pytest

from segcourse.tooling import workspace as ws


def _nb(text: str) -> str:
    return json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": text}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    course, mine = tmp_path / "lessons", tmp_path / "my-lessons"
    course.mkdir()
    (course / "00_intro.ipynb").write_text(_nb("intro v1"))
    (course / "01_fcn.ipynb").write_text(_nb("fcn v1"))
    (course / "01_fcn.py").write_text("# not a notebook: ignored")
    monkeypatch.setenv("SEGCOURSE_LESSONS", str(course))
    monkeypatch.setenv("SEGCOURSE_WORKSPACE", str(mine))
    return course, mine


def states(report):
    return {e.name: e.state for e in report}


def test_sync_copies_then_leaves_alone(dirs):
    course, mine = dirs
    assert states(ws.sync(quiet=True)) == {"00_intro.ipynb": "new", "01_fcn.ipynb": "new"}
    assert (mine / "00_intro.ipynb").read_text() == _nb("intro v1")
    assert not (mine / "01_fcn.py").exists()
    record = json.loads((mine / ws.RECORD).read_text())
    assert set(record) == {"00_intro.ipynb", "01_fcn.ipynb"}
    assert states(ws.sync(quiet=True)) == {"00_intro.ipynb": "same", "01_fcn.ipynb": "same"}


def test_update_never_overwrites_edits(dirs):
    course, mine = dirs
    ws.sync(quiet=True)
    (mine / "00_intro.ipynb").write_text(_nb("intro v1 + MY NOTES"))       # student edits 00
    (course / "00_intro.ipynb").write_text(_nb("intro v2"))                # course updates 00 ...
    (course / "01_fcn.ipynb").write_text(_nb("fcn v2"))                    # ... and 01 (untouched)
    (course / "02_deeplab.ipynb").write_text(_nb("deeplab v1"))            # ... and adds 02
    report = states(ws.sync(quiet=True))
    assert report == {"00_intro.ipynb": "edited+update", "01_fcn.ipynb": "updated",
                      "02_deeplab.ipynb": "new"}
    assert (mine / "00_intro.ipynb").read_text() == _nb("intro v1 + MY NOTES")   # kept
    assert (mine / "00_intro.new.ipynb").read_text() == _nb("intro v2")          # offered beside
    assert (mine / "01_fcn.ipynb").read_text() == _nb("fcn v2")                  # untouched: updated
    assert (mine / "02_deeplab.ipynb").exists()
    # syncing again changes nothing and loses nothing
    assert states(ws.sync(quiet=True))["00_intro.ipynb"] == "edited+update"
    assert (mine / "00_intro.ipynb").read_text() == _nb("intro v1 + MY NOTES")
    # the status view agrees, and writes nothing
    st = states(ws.status(quiet=True))
    assert st["00_intro.ipynb"] == "edited-outdated" and st["01_fcn.ipynb"] == "same"


def test_edit_after_update_is_kept(dirs):
    """An updated (untouched) copy that the student then edits is theirs again."""
    course, mine = dirs
    ws.sync(quiet=True)
    (course / "01_fcn.ipynb").write_text(_nb("fcn v2"))
    ws.sync(quiet=True)
    (mine / "01_fcn.ipynb").write_text(_nb("fcn v2 + mine"))
    (course / "01_fcn.ipynb").write_text(_nb("fcn v3"))
    assert states(ws.sync(quiet=True))["01_fcn.ipynb"] == "edited+update"
    assert (mine / "01_fcn.ipynb").read_text() == _nb("fcn v2 + mine")


def test_reset_backs_up_then_restores(dirs):
    course, mine = dirs
    ws.sync(quiet=True)
    (mine / "00_intro.ipynb").write_text(_nb("my work"))
    (course / "00_intro.ipynb").write_text(_nb("intro v2"))
    ws.sync(quiet=True)
    backup = ws.reset("0", quiet=True)
    assert backup.parent == mine / ws.BACKUPS and backup.name.startswith("00_intro.")
    assert backup.read_text() == _nb("my work")
    assert (mine / "00_intro.ipynb").read_text() == _nb("intro v2")
    assert not (mine / "00_intro.new.ipynb").exists()
    # two resets in the same second keep both backups
    (mine / "00_intro.ipynb").write_text(_nb("my work 2"))
    b2 = ws.reset("00", quiet=True)
    b3 = ws.reset("00", quiet=True)
    assert len({backup, b2, b3}) == 3 and b2.read_text() == _nb("my work 2")
    # after a reset the copy counts as untouched again: the next update replaces it
    (course / "00_intro.ipynb").write_text(_nb("intro v3"))
    assert states(ws.sync(quiet=True))["00_intro.ipynb"] == "updated"
    with pytest.raises(SystemExit):
        ws.reset("7", quiet=True)


def test_missing_or_damaged_record_counts_as_edited(dirs):
    course, mine = dirs
    mine.mkdir()
    (mine / "00_intro.ipynb").write_text(_nb("copied by hand, then edited"))
    (mine / ws.RECORD).write_text("{not json")
    report = states(ws.sync(quiet=True))
    assert report["00_intro.ipynb"] == "edited+update"
    assert (mine / "00_intro.ipynb").read_text() == _nb("copied by hand, then edited")
    assert list(mine.glob(ws.RECORD + ".broken-*"))


def test_cli(dirs):
    course, mine = dirs
    run = lambda *a: subprocess.run([sys.executable, "-m", "segcourse.tooling.workspace", *a],  # noqa: E731
                                    capture_output=True, text=True, check=True).stdout
    assert "new" in run("sync")
    (mine / "01_fcn.ipynb").write_text(_nb("mine"))
    assert "edited by you" in run("status")
    out = run("reset", "01")
    assert "backups" in out and (mine / "01_fcn.ipynb").read_text() == _nb("fcn v1")


def test_shipped_lab_settings_switch_jupyter_news_off():
    """./course open passes segcourse/tooling/jupyter as JupyterLab's app settings dir: its
    overrides.json answers "Would you like to get notified about official Jupyter news?" with Never
    (the course is offline), and the URL it prints resets the workspace (no deck mode left over)."""
    from pathlib import Path

    import jsonschema
    from jupyterlab_server.settings_utils import _get_overrides

    from segcourse._paths import ROOT
    settings = ROOT / "segcourse" / "tooling" / "jupyter"
    overrides, error = _get_overrides(str(settings))
    assert not error
    notify = overrides["@jupyterlab/apputils-extension:notification"]
    assert notify["fetchNews"] == "false" and notify["checkForUpdates"] is False
    schema = Path(sys.prefix) / "share/jupyter/lab/schemas/@jupyterlab/apputils-extension/notification.json"
    jsonschema.validate(notify, json.loads(schema.read_text()))
    course = (ROOT / "course").read_text()
    assert '--LabApp.app_settings_dir="$ROOT/segcourse/tooling/jupyter"' in course
    assert "/lab?reset&token=" in course
    # the deck's "on" lives in the user settings, which ?reset does not touch: switched off first
    assert course.index("segcourse.tooling.labsettings close-deck") < course.index("/lab?reset&token=")


def test_hub_server_start_switches_a_deck_left_on_off(tmp_path, monkeypatch):
    """A hub student's server (``hub.singleuser``) runs close_deck on the student's own settings
    before JupyterLab starts, as ``./course open`` does."""
    from segcourse.tooling import hub, workspace
    from segcourse.tooling.labsettings import DECK_SETTINGS
    settings = tmp_path / "settings"
    f = settings / DECK_SETTINGS
    f.parent.mkdir(parents=True)
    f.write_text('{\n    "active": true\n}')
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(settings))
    monkeypatch.setenv("SEGCOURSE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setattr(workspace, "sync", lambda ws: None)
    started = []
    monkeypatch.setattr(hub.os, "execv", lambda exe, args: started.append(args))
    hub.singleuser([])
    assert started and "jupyterhub.singleuser" in started[0]
    assert '"active": false' in f.read_text()


def test_close_deck_switches_only_the_deck_off(tmp_path):
    from segcourse.tooling.labsettings import DECK_SETTINGS, close_deck
    assert close_deck(tmp_path) is False                      # no settings file: nothing to do
    f = tmp_path / DECK_SETTINGS
    f.parent.mkdir(parents=True)
    raw = ('{\n    // Decks\n    // jupyterlab-slideshow:plugin\n\n    // Activate Deck\n'
           '    "active": true,\n    "showCodeCellPrompt": true\n}')
    f.write_text(raw)
    assert close_deck(tmp_path) is True
    assert f.read_text() == raw.replace('"active": true', '"active": false')   # comments and the rest kept
    assert close_deck(tmp_path) is False
    with pytest.raises(TypeError, match="settings_dir"):
        close_deck(3)
