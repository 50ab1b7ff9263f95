"""The hub under a class: N simulated students at once (``./course hub loadtest --students 10``).

On a fresh hub (its own state folder, free ports on 127.0.0.1, the real course):

1. N students log in through the login form and get an API token;
2. all start their servers at once through the REST API: *time until all are ready*;
3. one student opens lesson 00 (their own copy) and runs it top to bottom through the kernel API
   (a session + the kernel's websocket, one execute_request per code cell) while the others idle:
   *the lesson alone*;
4. all N run it at once: *per-student run time* against the lone run;
5. the CPU seconds each kernel used (user + system: what the lesson costs, whatever the load);
6. throughout, every second, the proportional set size (PSS: shared libraries counted once) of
   each student's processes (server + kernel) and of the hub's own (hub, proxy, culler):
   *peak memory per student*; and *errors* (failed logins/starts, error replies: must be 0).
   On a shared machine the test never pushes it into the OOM killer: if the machine's available
   memory falls below 1.5 GB, the students' processes are ended and the run reports it.

The report is printed and written to ``artifacts/hub-load/report.json``. The hub is stopped at the
end and every process it started is checked gone.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .._paths import LESSONS, ROOT, lesson_files
from . import hub

__all__ = ["run_notebook", "MemorySampler", "load_test", "main"]

OUT = ROOT / "artifacts" / "hub-load"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _message(code: str, session: str, user: str) -> tuple[str, str]:
    msg_id = uuid.uuid4().hex
    msg = {"header": {"msg_id": msg_id, "username": user, "session": session,
                      "msg_type": "execute_request", "version": "5.3",
                      "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
           "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
           "content": {"code": code, "silent": False, "store_history": True,
                       "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}
    return msg_id, json.dumps(msg)


def run_notebook(user: hub.HubUser, path: str, *, cell_timeout: float = 900, measure=None) -> dict:
    """Open ``path`` in ``user``'s server (a session, as JupyterLab does), run every code cell in
    order through the kernel's websocket, shut the kernel down. Returns seconds and errors (and
    ``measure()`` taken after the last cell, while the kernel still holds the lesson's state)."""
    import websocket
    nb = user.request("GET", f"/user/{user.name}/api/contents/{path}").json()["content"]
    cells = [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
             for c in nb["cells"] if c["cell_type"] == "code"]
    r = user.request("POST", f"/user/{user.name}/api/sessions",
                     json={"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}})
    r.raise_for_status()
    sid, kid = r.json()["id"], r.json()["kernel"]["id"]
    ws_url = user.url.replace("http://", "ws://") + f"/user/{user.name}/api/kernels/{kid}/channels"
    errors, session = [], uuid.uuid4().hex
    t0 = time.monotonic()
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {user.token}"],
                                     timeout=cell_timeout)
    try:
        for i, code in enumerate(cells):
            msg_id, text = _message(code, session, user.name)
            ws.send(text)
            replied = idle = False
            while not (replied and idle):
                m = json.loads(ws.recv())
                if m.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = m["header"]["msg_type"]
                if kind == "execute_reply":
                    replied = True
                    if m["content"].get("status") != "ok":
                        errors.append(f"cell {i}: {m['content'].get('ename')}: {m['content'].get('evalue')}")
                elif kind == "status" and m["content"].get("execution_state") == "idle":
                    idle = True
            if errors:
                break
    finally:
        seconds = time.monotonic() - t0
        after = measure() if measure else None
        ws.close()
        user.request("DELETE", f"/user/{user.name}/api/sessions/{sid}")
    return {"seconds": seconds, "cells": len(cells), "errors": errors, "after": after}


class MemorySampler(threading.Thread):
    """Every ``every`` s: PSS (MB) summed over each student's processes; keeps the peaks."""

    def __init__(self, state: Path, every: float = 1.0, floor_mb: float = 1500):
        super().__init__(daemon=True)
        self.state, self.every, self.floor_mb = state, every, floor_mb
        self.min_available_mb = float("inf")
        self.aborted = False
        self.peak: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.peak_total = 0.0
        self._stop_event = threading.Event()

    def sample(self) -> dict[str, float]:
        per: dict[str, float] = {}
        for pid, name in hub.hub_processes(self.state).items():
            per[name or "(hub)"] = per.get(name or "(hub)", 0.0) + hub.pss_kb(pid) / 1024
        return per

    def run(self):
        while not self._stop_event.is_set():
            self.last = self.sample()
            for k, v in self.last.items():
                self.peak[k] = max(self.peak.get(k, 0.0), v)
            self.peak_total = max(self.peak_total, sum(self.last.values()))
            available = _available_mb()
            self.min_available_mb = min(self.min_available_mb, available)
            if available < self.floor_mb and not self.aborted:
                # a shared machine: never push it into the OOM killer; end the students' processes
                self.aborted = True
                for pid, name in hub.hub_processes(self.state).items():
                    if name:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            self._stop_event.wait(self.every)

    def stop(self):
        self._stop_event.set()
        self.join()


def load_test(n: int = 10, *, lesson: str = "00", state: Path | None = None, port: int | None = None,
              threads: int = 1) -> dict:
    hub.ensure_proxy()
    out = OUT
    state = Path(state or out / "state")
    if state.exists():
        shutil.rmtree(state)
    names = tuple(f"student{i:02d}" for i in range(1, n + 1))
    s = hub.HubSettings(state=state, class_password=secrets.token_urlsafe(9),
                        admin_password=secrets.token_urlsafe(33), port=port or _free_port(),
                        hub_port=_free_port(), proxy_api_port=_free_port(), students=names,
                        threads=threads)
    path = next(p.name for p in lesson_files(LESSONS) if p.name.startswith(lesson + "_"))
    url = f"http://127.0.0.1:{s.port}"
    errors: list[str] = []
    report: dict = {"students": n, "lesson": path, "threads_per_kernel": threads,
                    "cores": _cores(), "load_before": _loadavg()}
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "hub.log", "w")
    t = time.monotonic()
    proc = hub.start_hub(s, log=log)
    report["hub_start_s"] = time.monotonic() - t
    sampler = MemorySampler(state)
    sampler.start()
    try:
        def guarded(fn, *a, **kw):
            try:
                return fn(*a, **kw)
            except Exception as e:  # noqa: BLE001: every failure is counted and reported
                errors.append(f"{getattr(fn, '__name__', fn)}: {type(e).__name__}: {e}")
                return None

        with ThreadPoolExecutor(n) as pool:
            t = time.monotonic()
            users = [u for u in pool.map(lambda name: guarded(hub.login, url, name, s.class_password),
                                         names) if u]
            report["login_all_s"] = time.monotonic() - t
            t = time.monotonic()
            def start(u):  # seconds from this student's start request to a server that answers
                t0 = time.monotonic()
                if u.start_server() not in (201, 202):
                    raise RuntimeError(f"{u.name}: server start refused")
                u.wait_ready(600)
                return time.monotonic() - t0

            waits = list(pool.map(lambda u: guarded(start, u), users))
            report["all_ready_s"] = time.monotonic() - t
            report["ready_s"] = _stats([w for w in waits if w is not None])
            time.sleep(3)
            idle = sampler.sample()
            report["idle_mb_per_student"] = _stats([idle.get(u.name, 0.0) for u in users])
            report["hub_mb"] = idle.get("(hub)", 0.0)
            report["load_ready"] = _loadavg()

            def held(name):  # right after the lesson ran: PSS (server + kernel), the kernel's CPU
                return lambda: {"mb": sampler.sample().get(name, 0.0),
                                "kernel_cpu_s": _kernel_cpu_s(state, name)}

            alone = run_notebook(users[0], path, measure=held(users[0].name))
            errors += [f"{users[0].name} (alone): {e}" for e in alone["errors"]]
            report["lesson_alone_s"] = alone["seconds"]
            report["kernel_cpu_alone_s"] = alone["after"]["kernel_cpu_s"]
            report["cells"] = alone["cells"]

            sampler.peak = {}
            t = time.monotonic()
            runs = list(pool.map(lambda u: guarded(run_notebook, u, path, measure=held(u.name)),
                                 users))
            report["all_ran_s"] = time.monotonic() - t
            for u, r in zip(users, runs):
                if r:
                    errors += [f"{u.name}: {e}" for e in r["errors"]]
            report["lesson_concurrent_s"] = _stats([r["seconds"] for r in runs if r])
            report["held_mb_per_student"] = _stats([r["after"]["mb"] for r in runs if r])
            report["kernel_cpu_s"] = _stats([r["after"]["kernel_cpu_s"] for r in runs if r])
            report["load_after"] = _loadavg()
        sampler.stop()
        report["peak_mb_per_student"] = _stats([sampler.peak.get(u.name, 0.0) for u in users])
        report["peak_mb_hub"] = sampler.peak.get("(hub)", 0.0)
        report["peak_mb_total"] = sampler.peak_total
        report["min_available_mb"] = sampler.min_available_mb
        if sampler.aborted:
            errors.append(f"aborted: the machine's available memory fell below {sampler.floor_mb:.0f} MB")
    finally:
        if sampler.is_alive():
            sampler.stop()
        leftover = hub.stop_hub(proc, state)
        if leftover:
            errors.append(f"processes left after the hub stopped: {leftover}")
        log.close()
    report["errors"] = errors
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _stats(values: list[float]) -> dict:
    if not values:
        return {}
    return {"min": min(values), "median": statistics.median(values), "max": max(values),
            "n": len(values)}


def _kernel_cpu_s(state: Path, name: str) -> float:
    """CPU seconds (user + system) of ``name``'s kernels so far: load-independent lesson cost."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid, user in hub.hub_processes(state).items():
        try:
            if user != name or b"ipykernel" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def format_report(r: dict) -> str:
    c, a = r["lesson_concurrent_s"], r["lesson_alone_s"]
    lines = [
        f"{r['students']} students, lesson {r['lesson']} ({r.get('cells')} code cells), "
        f"{r['cores']} cores (load average {r['load_before']:.1f} before, {r['load_after']:.1f} after), "
        f"{r['threads_per_kernel']} thread(s) per kernel",
        f"hub up in {r['hub_start_s']:.0f} s; all logged in in {r['login_all_s']:.1f} s",
        f"all servers ready: {r['all_ready_s']:.0f} s (each: median {r['ready_s']['median']:.0f} s, "
        f"max {r['ready_s']['max']:.0f} s)",
        f"kernel CPU per lesson run: alone {r['kernel_cpu_alone_s']:.0f} s, at once median "
        f"{r['kernel_cpu_s']['median']:.0f} s",
        f"lesson alone: {a:.0f} s; all at once: median {c['median']:.0f} s, max {c['max']:.0f} s per student "
        f"({c['median'] / a:.1f}x the lone run); all done after {r['all_ran_s']:.0f} s",
        f"memory (PSS) per student: idle median {r['idle_mb_per_student']['median']:.0f} MB; "
        f"peak median {r['peak_mb_per_student']['median']:.0f} MB, max {r['peak_mb_per_student']['max']:.0f} MB "
        f"(server + kernel); after the lesson, kernel still open: median "
        f"{r['held_mb_per_student']['median']:.0f} MB; hub + proxy + culler {r['peak_mb_hub']:.0f} MB; "
        f"all together at peak {r['peak_mb_total']:.0f} MB",
        f"machine memory available: at least {r['min_available_mb']:.0f} MB throughout",
        f"errors: {len(r['errors'])}" + "".join(f"\n  {e}" for e in r["errors"]),
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./course hub loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--lesson", default="00")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per student kernel")
    args = parser.parse_args(argv)
    report = load_test(args.students, lesson=args.lesson, threads=args.threads)
    try:
        print(format_report(report))
    except (KeyError, TypeError, ZeroDivisionError):  # a run that failed early: the raw figures
        print(json.dumps(report, indent=1))
    print(f"(written to {OUT / 'report.json'})")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
