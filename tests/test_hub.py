"""`./course hub` (segcourse.tooling.hub): the configuration, then a real hub with two students.

The hub test starts JupyterHub + configurable-http-proxy on 127.0.0.1 (free ports, a temporary
state folder, a one-lesson temporary course), logs two students in through the login form, starts
their servers through the REST API and checks: the class list and the instructor's admin rights;
isolation (one student's token gets 403 on the other's server, files and hub record); a lesson
edit survives a server stop/start and a hub restart, while a new course version lands beside it;
every socket of the hub, proxy, servers and kernels listens on loopback; and the hub stops every
process it started. It is skipped only when Node.js (which the proxy runs on) is missing.
"""
from __future__ import annotations

import json
import shutil
import socket
import stat
import time
from pathlib import Path

import pytest

from segcourse._paths import LESSONS, lesson_files
from segcourse.tooling import hub

STUDENTS = ("ada", "bo")
INSTRUCTOR = "teacher"
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
HUB_TEST_BUDGET_S = 150  # on 2 loaded cores; about 60-90 s on a quiet machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(state: Path, **kw) -> hub.HubSettings:
    return hub.HubSettings(state=state, class_password="class-pass-1",
                           admin_password="a" * 40, **kw)


# ----------------------------------------------------------------------- the configuration


def test_config_is_loopback_course_env_and_culled(tmp_path):
    c = hub.hub_config(_settings(tmp_path, port=9000, students=("bo", "ada"), instructor="prof"))
    assert c["JupyterHub"]["ip"] == "127.0.0.1" and c["JupyterHub"]["hub_ip"] == "127.0.0.1"
    assert c["JupyterHub"]["port"] == 9000 and c["JupyterHub"]["hub_port"] == 9001
    assert c["ConfigurableHTTPProxy"]["api_url"] == "http://127.0.0.1:9002"
    assert c["Spawner"]["ip"] == "127.0.0.1"
    assert c["Spawner"]["cmd"][1:] == list(hub.SINGLEUSER_ARGS)
    assert Path(c["Spawner"]["cmd"][0]).parent == Path(hub.sys.executable).parent  # the course's .venv
    assert c["JupyterHub"]["spawner_class"].endswith("SimpleLocalProcessSpawner")
    assert c["SimpleLocalProcessSpawner"]["home_dir_template"] == f"{tmp_path}/users/{{username}}"
    state_files = [c["JupyterHub"]["db_url"].removeprefix("sqlite:///"),
                   c["JupyterHub"]["cookie_secret_file"]]
    assert all(Path(p).parent == tmp_path for p in state_files)
    auth = c["SharedPasswordAuthenticator"]
    assert auth["admin_users"] == ["prof"] and auth["allowed_users"] == ["ada", "bo"]
    assert "allow_all" not in auth
    culler = c["JupyterHub"]["services"][0]
    assert culler["name"] == "idle-culler" and "--timeout=3600" in culler["command"]
    assert c["JupyterHub"]["load_roles"][0]["services"] == ["idle-culler"]
    json.dumps(c)  # plain values only
    # no class list: any name with the class password; the instructor may open the hub up
    open_hub = hub.hub_config(_settings(tmp_path, ip="0.0.0.0"))
    assert open_hub["SharedPasswordAuthenticator"]["allow_all"] is True
    assert open_hub["JupyterHub"]["ip"] == "0.0.0.0" and open_hub["JupyterHub"]["hub_ip"] == "127.0.0.1"


def test_config_file_applies_exactly_the_config(tmp_path):
    s = _settings(tmp_path, port=9100)
    path = hub.write_config(s)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the passwords

    class Section(dict):
        __setattr__ = dict.__setitem__

    class Config(dict):
        def __getattr__(self, name):
            return self.setdefault(name, Section())

    c = Config()
    exec(compile(path.read_text(), str(path), "exec"), {"c": c})
    assert json.loads(json.dumps(c)) == json.loads(json.dumps(hub.hub_config(s)))


def test_weak_passwords_refused(tmp_path):
    with pytest.raises(ValueError, match="class_password"):
        hub.HubSettings(state=tmp_path, class_password="short", admin_password="a" * 40)
    with pytest.raises(ValueError, match="admin_password"):
        hub.HubSettings(state=tmp_path, class_password="class-pass-1", admin_password="b" * 31)


def test_passwords_made_once_and_private(tmp_path):
    first = hub.passwords(tmp_path / "state")
    assert first == hub.passwords(tmp_path / "state")
    assert stat.S_IMODE((tmp_path / "state" / "passwords.json").stat().st_mode) == 0o600
    hub.HubSettings(state=tmp_path, **first)  # strong enough for the authenticator


# ----------------------------------------------------------------------- a real hub


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    try:
        hub.ensure_proxy(quiet=True)
    except hub.ProxyUnavailable as e:
        pytest.skip(str(e))
    base = tmp_path_factory.mktemp("hub")
    course = base / "course"
    course.mkdir()
    shutil.copy(lesson_files(LESSONS)[0], course)  # lesson 00: the course the students follow
    state = base / "state"
    s = hub.HubSettings(state=state, port=_free_port(), hub_port=_free_port(),
                        proxy_api_port=_free_port(), lessons=course, instructor=INSTRUCTOR,
                        students=STUDENTS, **hub.passwords(state))
    log = open(base / "hub.log", "a")
    box = {"proc": hub.start_hub(s, log=log)}
    yield s, box, course, log
    hub.stop_hub(box["proc"], state)  # safety net: the test itself checks the clean stop
    log.close()


def _notebook(user: hub.HubUser, name: str) -> dict:
    r = user.request("GET", f"/user/{user.name}/api/contents/{name}")
    assert r.status_code == 200, r.text
    return r.json()["content"]


def _cell(text: str, cell_id: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


def test_two_students_isolated_and_nothing_lost(classroom):
    t0 = time.monotonic()
    s, box, course, log = classroom
    url, lesson = f"http://127.0.0.1:{s.port}", lesson_files(course)[0].name
    ada, bo = (hub.login(url, name, s.class_password) for name in STUDENTS)
    with pytest.raises(PermissionError):  # not on the class list
        hub.login(url, "mallory", s.class_password)
    with pytest.raises(PermissionError):  # the instructor needs the admin password
        hub.login(url, INSTRUCTOR, s.class_password)
    teacher = hub.login(url, INSTRUCTOR, s.admin_password)
    assert teacher.request("GET", "/hub/api/users").status_code == 200  # admin
    assert ada.request("GET", "/hub/api/users").status_code == 403

    for student in (ada, bo):
        assert student.start_server() in (201, 202)
    for student in (ada, bo):
        student.wait_ready()

    # isolation: ada's token reaches nothing of bo's (and the other way round)
    for me, other in ((ada, bo), (bo, ada)):
        assert me.request("GET", f"/user/{other.name}/api/contents").status_code == 403
        assert me.request("GET", f"/user/{other.name}/api/contents/{lesson}").status_code == 403
        assert me.request("POST", f"/user/{other.name}/api/kernels").status_code == 403
        # the hub answers 404 for users a token may not see (it does not confirm they exist)
        assert me.request("DELETE", f"/hub/api/users/{other.name}/server").status_code in (403, 404)
        assert me.request("GET", f"/hub/api/users/{other.name}").status_code in (403, 404)
        assert me.request("GET", f"/user/{me.name}/api/contents").status_code == 200
    assert teacher.request("GET", "/hub/api/users/bo").json()["servers"][""]["ready"]  # still up
    # each works in their own copy of the lessons, JupyterLab with the deck extension
    assert _notebook(ada, lesson) == _notebook(bo, lesson)
    homes = {p.name for p in (s.state / "users").iterdir()}
    assert homes == set(STUDENTS)
    assert "jupyterlab-slideshow" in ada.request("GET", f"/user/{ada.name}/lab").text

    # everything of this hub listens on loopback only
    procs = hub.hub_processes(s.state)
    assert set(STUDENTS) <= set(procs.values())
    sockets = hub.listening(procs)
    assert {port for _, port, _ in sockets} >= {s.port, s.hub_port, s.proxy_api_port}
    assert all(addr in LOOPBACK for addr, _, _ in sockets), sockets

    # ada edits lesson 00 and saves; her server is stopped and started again
    nb = _notebook(ada, lesson)
    nb["cells"].append(_cell("ada's answer", "ada-answer"))
    r = ada.request("PUT", f"/user/ada/api/contents/{lesson}",
                    json={"type": "notebook", "format": "json", "content": nb})
    assert r.status_code == 200, r.text
    ada.stop_server()
    assert ada.start_server() in (201, 202)
    ada.wait_ready()
    assert _notebook(ada, lesson)["cells"][-1]["source"] == "ada's answer"

    # the hub restarts, and meanwhile the course publishes a new version of lesson 00
    assert hub.stop_hub(box["proc"], s.state) == [], "processes left after the hub stopped"
    assert hub.hub_processes(s.state) == {}
    src = course / lesson
    course_nb = json.loads(src.read_text())
    course_nb["cells"].append(_cell("new in v2", "course-v2"))
    src.write_text(json.dumps(course_nb))
    box["proc"] = hub.start_hub(s, log=log)
    assert ada.start_server() in (201, 202)  # her token survived the restart (the hub's sqlite)
    ada.wait_ready()
    assert _notebook(ada, lesson)["cells"][-1]["source"] == "ada's answer"  # never overwritten
    pending = lesson.replace(".ipynb", ".new.ipynb")
    assert _notebook(ada, pending)["cells"][-1]["source"] == "new in v2"  # the update, beside it

    assert hub.stop_hub(box["proc"], s.state) == [], "processes left after the hub stopped"
    assert hub.hub_processes(s.state) == {}
    elapsed = time.monotonic() - t0
    print(f"hub test: {elapsed:.0f} s")
    assert elapsed < HUB_TEST_BUDGET_S
