"""``./course hub``: the course for a whole class on one server, with JupyterHub.

    python -m segcourse.tooling.hub setup                 # the proxy (npm ci in hub/), idempotent
    python -m segcourse.tooling.hub run [--port 8000]     # the hub on 127.0.0.1 (Ctrl-C stops it all)
    python -m segcourse.tooling.hub singleuser            # what the hub starts for each student
    python -m segcourse.tooling.hubload --students 10     # N simulated students (./course hub loadtest)

What runs. JupyterHub (pinned in ``uv.lock``) behind configurable-http-proxy (pinned in
``hub/package-lock.json``, installed with ``npm ci`` into ``hub/node_modules``). Each student's
server is a ``SimpleLocalProcessSpawner`` process of the course's own environment (``.venv``), with
its home in ``<state>/users/<name>/``; it first brings ``~/my-lessons/`` up to date with the same
rules as ``./course mywork`` (:mod:`segcourse.tooling.workspace`: a lesson the student edited is
never overwritten, a new course version is put beside it as ``NN_name.new.ipynb``), then starts
JupyterLab on it (the deck extension included). The same command starts a student's pod in the
Zero to JupyterHub deployment (``hub/z2jh/config.yaml``).

Who logs in. JupyterHub's ``SharedPasswordAuthenticator``: students log in with any name (or, with
``--students FILE``, a name from the class list) and the class password; the instructor (``--instructor``,
default ``instructor``) logs in with a separate admin password and is the hub's admin (admin
panel, every student's server). Both passwords are made on the first run and kept in
``<state>/passwords.json`` (mode 600). Idle servers are stopped by jupyterhub-idle-culler.

State (the hub's sqlite, cookie secret, passwords, the students' homes) lives in ``hub/state/``
(git-ignored), or ``--state DIR``. The configuration is :func:`hub_config` (a pure function of
:class:`HubSettings`), written out as ``<state>/jupyterhub_config.py`` by :func:`write_config`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pprint
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .._paths import LESSONS, ROOT

__all__ = ["HUB_DIR", "STATE", "SINGLEUSER_ARGS", "HubSettings", "hub_config", "config_py",
           "write_config", "passwords", "ensure_proxy", "ProxyUnavailable", "start_hub", "stop_hub",
           "hub_processes", "listening", "pss_kb", "HubUser", "login", "singleuser"]

HUB_DIR = ROOT / "hub"
STATE = HUB_DIR / "state"
PROXY = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
#: A student's server: ``python`` + these. The z2jh config.yaml uses the same (tests check it).
SINGLEUSER_ARGS = ("-m", "segcourse.tooling.hub", "singleuser")
#: The marker every process of one hub carries in its environment (hub, proxy, servers, kernels).
STATE_ENV = "SEGCOURSE_HUB_STATE"
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class HubSettings:
    """Everything the hub's configuration depends on."""
    state: Path
    class_password: str
    admin_password: str
    port: int = 8000
    ip: str = "127.0.0.1"              # where students connect (the proxy); loopback unless set
    hub_port: int | None = None        # the hub's own port (internal, loopback); default port + 1
    proxy_api_port: int | None = None  # the proxy's REST API (internal, loopback); default port + 2
    instructor: str = "instructor"
    students: tuple[str, ...] = ()     # the class list; empty: any name with the class password
    cull_timeout: int = 3600           # stop a server idle this long (s)
    cull_every: int = 300              # how often the culler looks (s)
    threads: int = 1                   # OMP/MKL threads per student kernel
    lessons: Path = LESSONS            # the course folder the students' copies follow
    python: str = sys.executable       # the course environment's python
    proxy: Path = PROXY
    start_timeout: int = 180           # a loaded machine starts servers slowly

    def __post_init__(self):
        if len(self.class_password) < 8:
            raise ValueError("class_password: at least 8 characters")
        if len(self.admin_password) < 32 or self.admin_password == self.class_password:
            raise ValueError("admin_password: at least 32 characters, not the class password")


def hub_config(s: HubSettings) -> dict:
    """The JupyterHub configuration as ``{Class: {trait: value}}`` (plain JSON values)."""
    state = Path(s.state)
    venv_bin = str(Path(s.python).parent)
    hub_port = s.hub_port or s.port + 1
    api_port = s.proxy_api_port or s.port + 2
    marker = {STATE_ENV: str(state)}
    auth = {"admin_users": [s.instructor], "user_password": s.class_password,
            "admin_password": s.admin_password}
    if s.students:
        auth["allowed_users"] = sorted(set(s.students))
    else:
        auth["allow_all"] = True
    culler = [s.python, "-m", "jupyterhub_idle_culler", f"--timeout={s.cull_timeout}",
              f"--cull-every={s.cull_every}"]
    return {
        "JupyterHub": {
            "ip": s.ip, "port": s.port, "hub_ip": "127.0.0.1", "hub_port": hub_port,
            "db_url": f"sqlite:///{state / 'jupyterhub.sqlite'}",
            "cookie_secret_file": str(state / "jupyterhub_cookie_secret"),
            "pid_file": str(state / "jupyterhub.pid"),
            "spawner_class": "jupyterhub.spawner.SimpleLocalProcessSpawner",
            "authenticator_class": "jupyterhub.authenticators.shared.SharedPasswordAuthenticator",
            "cleanup_servers": True,
            "services": [{"name": "idle-culler", "command": culler, "environment": marker}],
            "load_roles": [{"name": "idle-culler", "scopes": CULLER_SCOPES,
                            "services": ["idle-culler"]}],
        },
        "ConfigurableHTTPProxy": {
            "command": [str(s.proxy)], "api_url": f"http://127.0.0.1:{api_port}",
            "pid_file": str(state / "proxy.pid"), "should_start": True,
        },
        "SharedPasswordAuthenticator": auth,
        "Spawner": {
            "cmd": [s.python, *SINGLEUSER_ARGS], "args": [], "ip": "127.0.0.1",
            "default_url": "/lab", "start_timeout": s.start_timeout, "http_timeout": s.start_timeout,
            "environment": {
                "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
                "SEGCOURSE_LESSONS": str(s.lessons),
                "OMP_NUM_THREADS": str(s.threads), "MKL_NUM_THREADS": str(s.threads),
                **marker,
            },
        },
        "SimpleLocalProcessSpawner": {"home_dir_template": str(state / "users" / "{username}")},
    }


def config_py(s: HubSettings) -> str:
    """``jupyterhub_config.py`` for :func:`hub_config` (no logic besides applying it)."""
    body = pprint.pformat(hub_config(s), width=100, sort_dicts=False)
    return ("# Generated by `./course hub` (segcourse.tooling.hub.hub_config): edit the options, not this.\n"
            f"CONFIG = {body}\n"
            "for section, values in CONFIG.items():\n"
            "    for name, value in values.items():\n"
            "        setattr(getattr(c, section), name, value)  # noqa: F821 (c: JupyterHub's config)\n")


def write_config(s: HubSettings) -> Path:
    """Write ``<state>/jupyterhub_config.py`` (mode 600: it holds the passwords)."""
    state = Path(s.state)
    (state / "users").mkdir(parents=True, exist_ok=True)
    path = state / "jupyterhub_config.py"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(config_py(s), encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return path


def passwords(state: Path) -> dict:
    """The class and admin passwords of this hub: made once, kept in ``<state>/passwords.json``."""
    path = Path(state) / "passwords.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    made = {"class_password": secrets.token_urlsafe(9), "admin_password": secrets.token_urlsafe(33)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(made, f, indent=1)
    return made


# ----------------------------------------------------------------------------- the proxy


class ProxyUnavailable(RuntimeError):
    """Node.js (and so the proxy) is not on this machine."""


def ensure_proxy(hub_dir: Path = HUB_DIR, *, quiet: bool = False) -> Path:
    """Install configurable-http-proxy from ``hub/package-lock.json`` with ``npm ci``, unless the
    installed tree already matches the lock file (idempotent). Returns the proxy's executable."""
    hub_dir = Path(hub_dir)
    if shutil.which("node") is None:
        raise ProxyUnavailable("Node.js is missing: the hub's proxy (configurable-http-proxy) runs on "
                               "it. Install it (Debian/Ubuntu: apt-get install nodejs npm)")
    lock = hub_dir / "package-lock.json"
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = hub_dir / "node_modules" / ".segcourse-lock.sha256"
    proxy = hub_dir / "node_modules" / ".bin" / "configurable-http-proxy"
    if proxy.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return proxy
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing (Node.js is here without it): apt-get install npm")
    if not quiet:
        print("==> installing configurable-http-proxy (npm ci in hub/)", file=sys.stderr)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=hub_dir,
                   check=True, stdout=subprocess.DEVNULL if quiet else None)
    stamp.write_text(want + "\n")
    return proxy


# ----------------------------------------------------------------------------- processes


def _default_sigint() -> None:
    """In the hub's process: SIGINT back to its default. A shell's background job inherits SIGINT
    ignored; JupyterHub stops its culler with SIGINT, and a culler ignoring it costs ~30 s."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def hub_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "jupyterhub", "-f", str(config)]


def start_hub(s: HubSettings, *, log=None, timeout: float = 120) -> subprocess.Popen:
    """Start the hub of ``s`` in the background and wait until it answers through the proxy."""
    import requests
    config = write_config(s)
    env = dict(os.environ, **{STATE_ENV: str(Path(s.state))})
    proc = subprocess.Popen(hub_command(config), cwd=s.state, env=env, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_default_sigint)
    url, deadline = f"http://127.0.0.1:{s.port}/hub/api/", time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_hub(proc, s.state)
            raise RuntimeError(f"the hub did not come up (exit {proc.returncode}); see its log")
        time.sleep(0.3)


def stop_hub(proc: subprocess.Popen, state: Path, timeout: float = 60) -> list[int]:
    """SIGTERM the hub (it stops the students' servers and the proxy), wait; then kill whatever of
    this hub is still running. Returns the pids that had to be killed (empty: a clean stop)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 10
    while hub_processes(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftover = sorted(hub_processes(state))
    for pid in leftover:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    return leftover


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return {}
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, _, value = item.partition(b"=")
        if key in (STATE_ENV.encode(), b"JUPYTERHUB_USER", b"JUPYTERHUB_SERVICE_NAME"):
            out[key.decode()] = value.decode(errors="replace")
    return out


def hub_processes(state: Path) -> dict[int, str]:
    """Live processes of the hub with this state folder: pid -> student name ('' for the hub, the
    proxy and the culler). Found by the marker in their environment (inherited by kernels)."""
    want, found = str(Path(state)), {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            env = _environ(int(p.name))
            if env.get(STATE_ENV) == want:
                found[int(p.name)] = env.get("JUPYTERHUB_USER", "")
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _hex_ip(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]  # /proc stores 4 little-endian words
    import ipaddress
    return str(ipaddress.IPv6Address(b"".join(words)))


def listening(pids) -> list[tuple[str, int, int]]:
    """TCP sockets in LISTEN state owned by ``pids``: (address, port, pid)."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and f[9] in owner:
                addr, port = f[1].split(":")
                out.append((_hex_ip(addr), int(port, 16), owner[f[9]]))
    return sorted(out)


def pss_kb(pid: int) -> int:
    """Proportional set size of a process (kB): shared libraries counted once across processes."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# ----------------------------------------------------------------------------- the REST API


@dataclass
class HubUser:
    """A logged-in user of the hub at ``url``, with an API token."""
    url: str
    name: str
    token: str
    session: object = field(default=None, repr=False)

    def __post_init__(self):
        import requests
        if self.session is None:
            self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"

    def request(self, method: str, path: str, **kw):
        """``path`` from the proxy's root: ``/hub/api/...`` or ``/user/<name>/api/...``."""
        kw.setdefault("timeout", 60)
        return self.session.request(method, self.url + path, **kw)

    def start_server(self) -> int:
        return self.request("POST", f"/hub/api/users/{self.name}/server").status_code

    def wait_ready(self, timeout: float = 240) -> float:
        """Wait until our server answers; returns the seconds waited."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            r = self.request("GET", f"/hub/api/users/{self.name}")
            server = r.json().get("servers", {}).get("", {}) if r.ok else {}
            if server.get("ready"):
                if self.request("GET", f"/user/{self.name}/api/status").status_code == 200:
                    return time.monotonic() - t0
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}'s server not ready after {timeout:.0f} s")

    def stop_server(self, timeout: float = 60) -> None:
        self.request("DELETE", f"/hub/api/users/{self.name}/server")
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            r = self.request("GET", f"/hub/api/users/{self.name}")
            if r.ok and not r.json().get("servers"):
                return
            time.sleep(0.3)
        raise TimeoutError(f"{self.name}'s server did not stop")


def login(url: str, name: str, password: str, *, note: str = "segcourse") -> HubUser:
    """Log in through the hub's login form (as a browser does), then make an API token."""
    import requests
    s = requests.Session()
    s.get(f"{url}/hub/login", timeout=60)
    xsrf = s.cookies.get("_xsrf", path="/hub/")
    r = s.post(f"{url}/hub/login", data={"username": name, "password": password, "_xsrf": xsrf},
               allow_redirects=False, timeout=60)
    if r.status_code != 302:
        raise PermissionError(f"login as {name!r} refused ({r.status_code})")
    xsrf = s.cookies.get("_xsrf", path="/hub/")
    r = s.post(f"{url}/hub/api/users/{name}/tokens", json={"note": note},
               headers={"X-XSRFToken": xsrf}, timeout=60)
    r.raise_for_status()
    return HubUser(url, name, r.json()["token"])


# ----------------------------------------------------------------------------- commands


def singleuser(argv: list[str]) -> None:
    """A student's server: sync ``~/my-lessons`` (edits never overwritten), switch a deck left on
    off (``labsettings.close_deck``: the slideshow keeps "on" in the user's settings, which
    ``/lab?reset`` does not touch), then JupyterLab on it."""
    from . import labsettings, workspace
    ws = Path(os.environ.get("SEGCOURSE_WORKSPACE") or Path.home() / "my-lessons")
    workspace.sync(ws)
    labsettings.close_deck()
    args = [sys.executable, "-m", "jupyterhub.singleuser", f"--ServerApp.root_dir={ws}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        args.append("--allow-root")  # containers and CI machines run as root
    sys.stdout.flush()
    os.execv(sys.executable, args + list(argv))


def settings_from_args(args) -> HubSettings:
    state = Path(args.state).resolve()
    pw = passwords(state)
    students = ()
    if args.students:
        students = tuple(line.strip().lower() for line in Path(args.students).read_text().splitlines()
                         if line.strip() and not line.startswith("#"))
    return HubSettings(state=state, port=args.port, ip=args.ip, instructor=args.instructor,
                       students=students, cull_timeout=args.cull_timeout, threads=args.threads,
                       **pw)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./course hub", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("setup", help="install the proxy with npm ci (idempotent)")
    run = sub.add_parser("run", help="run the hub (the default)")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    run.add_argument("--ip", default="127.0.0.1",
                     help="where students connect; 0.0.0.0 for the whole network (behind TLS!)")
    run.add_argument("--state", default=str(STATE))
    run.add_argument("--instructor", default="instructor")
    run.add_argument("--students", help="class list: one user name a line (default: any name)")
    run.add_argument("--cull-timeout", type=int, default=3600, help="stop servers idle this long (s)")
    run.add_argument("--threads", type=int, default=1, help="CPU threads per student kernel")
    sub.add_parser("singleuser", help="(started by the hub) a student's server", add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]  # `./course hub --port 9000`
    args, rest = parser.parse_known_args(argv)
    if args.cmd == "singleuser":
        singleuser(rest)
        return 0
    if rest:
        parser.error(f"unknown arguments {rest}")
    if args.cmd == "setup":
        ensure_proxy()
        return 0
    ensure_proxy()
    s = settings_from_args(args)
    config = write_config(s)
    print(f"==> the hub: http://{'127.0.0.1' if s.ip in ('', '0.0.0.0') else s.ip}:{s.port}/  "
          f"(Ctrl-C stops the hub and every student's server)\n"
          f"    students: any name{' from ' + args.students if s.students else ''} + the class "
          f"password {s.class_password}\n"
          f"    instructor (admin): {s.instructor} + the admin password in {s.state}/passwords.json\n"
          f"    state: {s.state}", file=sys.stderr)
    # the hub in its own session: Ctrl-C (or SIGTERM) here becomes one SIGTERM to the hub, which
    # stops every student's server, the culler and the proxy (a few seconds); stop_hub then checks
    # that nothing of this hub is left running
    env = dict(os.environ, **{STATE_ENV: str(s.state)})
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    proc = subprocess.Popen(hub_command(config), cwd=s.state, env=env, start_new_session=True,
                            preexec_fn=_default_sigint)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        print("\n==> stopping the hub and every student's server", file=sys.stderr)
        leftover = stop_hub(proc, s.state)
        if leftover:
            print(f"had to kill {len(leftover)} leftover process(es): {leftover}", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
