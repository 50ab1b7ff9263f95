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
import os
import shutil
import socket
import stat
import time
from pathlib import Path

import pytest

from segcourse._paths import LESSONS, ROOT, lesson_files
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


@pytest.mark.slow
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
    services = teacher.request("GET", "/hub/api/services").json()
    culler_pid = services["idle-culler"]["pid"]
    assert culler_pid in hub.hub_processes(s.state)  # the idle culler runs, as a hub service

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


# ----------------------------------------------------------------------- beyond one server

Z2JH = ROOT / "hub" / "z2jh" / "config.yaml"
DOCKERFILE = ROOT / "hub" / "Dockerfile"
DOCKER_INSTRUCTIONS = {"FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "WORKDIR", "USER", "EXPOSE",
                       "CMD", "ENTRYPOINT", "LABEL", "VOLUME", "SHELL", "HEALTHCHECK", "STOPSIGNAL",
                       "ONBUILD"}


def _docker_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, args = pending.strip().partition(" ")
        out.append((word, " ".join(args.split())))
        pending = ""
    assert not pending, "a continuation line at the end of the Dockerfile"
    return out


def _yaml(path: Path):
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(path.read_text())


def test_z2jh_pods_run_the_local_hubs_singleuser_command(tmp_path):
    values = _yaml(Z2JH)
    local = hub.hub_config(_settings(tmp_path))["Spawner"]
    single = values["singleuser"]
    # the pod's command is the local hub's (the image's python instead of this .venv's)
    assert single["cmd"] == ["python", *hub.SINGLEUSER_ARGS] == ["python", *local["cmd"][1:]]
    assert single["defaultUrl"] == local["default_url"]
    docker = dict(_docker_instructions(DOCKERFILE.read_text()))
    assert json.loads(docker["CMD"]) == single["cmd"]
    env = single["extraEnv"]
    assert f"SEGCOURSE_LESSONS={env['SEGCOURSE_LESSONS']}" in docker["ENV"].split()
    assert env["OMP_NUM_THREADS"] == local["environment"]["OMP_NUM_THREADS"]
    assert values["cull"]["enabled"] and values["cull"]["timeout"] == 3600  # as the local culler
    assert "instructor" in values["hub"]["config"]["Authenticator"]["admin_users"]
    assert single["storage"]["homeMountPath"] == "/home/jovyan"


def test_z2jh_values_validate_against_the_charts_schema():
    """With ``SEGCOURSE_Z2JH_CHART`` = an unpacked jupyterhub chart (values.yaml and
    values.schema.json or .yaml), the chart's defaults + ours validate as helm would."""
    chart = os.environ.get("SEGCOURSE_Z2JH_CHART")
    if not chart:
        pytest.skip("set SEGCOURSE_Z2JH_CHART to an unpacked jupyterhub Helm chart to validate")
    jsonschema = pytest.importorskip("jsonschema")
    chart = Path(chart)
    schema_file = next(p for p in (chart / "values.schema.json", chart / "values.schema.yaml")
                       if p.exists())
    schema = _yaml(schema_file)

    def merge(base, over):
        if isinstance(base, dict) and isinstance(over, dict):
            return {k: merge(base.get(k), over[k]) if k in over else base[k]
                    for k in {**base, **over}}
        return over

    jsonschema.validate(merge(_yaml(chart / "values.yaml"), _yaml(Z2JH)), schema)


def test_dockerfile_lint():
    """No Docker daemon or hadolint here: the checks a linter would make that matter for this
    image, plus: built from the lock file with ./course's uv, and every COPY source is in the
    build context."""
    text = DOCKERFILE.read_text()
    steps = _docker_instructions(text)
    words = [w for w, _ in steps]
    assert set(words) <= DOCKER_INSTRUCTIONS, set(words) - DOCKER_INSTRUCTIONS
    assert words[0] == "FROM" and words.count("CMD") == 1
    base = steps[0][1]
    assert ":" in base and not base.endswith(":latest"), "pin the base image"
    assert base.split(":")[1].startswith("3.11"), "the lock file is for Python 3.11"
    course = (ROOT / "course").read_text()
    uv_version = course.split("UV_VERSION=", 1)[1].split()[0]
    assert f"ARG UV_VERSION={uv_version}" in text, "the image uses the uv ./course pins"
    runs = [a for w, a in steps if w == "RUN"]
    assert any("uv sync --frozen" in r for r in runs), "install exactly uv.lock"
    assert not any("uv sync" in r and "--frozen" not in r for r in runs)
    for r in runs:
        assert "apt-get install" not in r or "--no-install-recommends" in r
        assert "pip install" not in r or "--no-cache-dir" in r
    assert all(w != "ADD" for w in words), "COPY, not ADD"
    assert steps[-1][0] == "CMD" and json.loads(steps[-1][1])  # exec form
    users = [a for w, a in steps if w == "USER"]
    assert users and users[-1] not in ("root", "0"), "students' servers do not run as root"
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split()
    for args in (a for w, a in steps if w == "COPY"):
        *sources, _dest = args.split()
        for src in sources:
            assert (ROOT / src).exists(), src
            assert f"!{src}" in ignore, f"{src} is excluded from the build context"
