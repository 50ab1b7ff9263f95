"""The environment is real: the matched torch/torchvision pair works, the notebooks' kernel is
this project's environment, and environment.yml pins exactly what uv.lock pins."""
import sys
import tomllib

import pytest
import torch
import yaml

from segcourse.tooling.envfile import locked_packages
from segcourse.tooling.notebooks import KERNELSPEC, lesson_paths


def test_torchvision_ops_roi_align_runs_and_is_right():
    import torchvision
    from torchvision.ops import nms, roi_align

    assert torch.__version__.startswith("2.13.0") and torchvision.__version__.startswith("0.28.0")
    # Bilinear sampling of a linear ramp is exact. With aligned=True a box coordinate x is the
    # continuous position x, and pixel i (value i) has its centre at i + 0.5, so the ramp reads
    # x - 0.5 there. The box [1, 5] splits into bins [1, 3] and [3, 5], centred at x = 2 and 4.
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]  # pixel (y, x) holds x
    box = torch.tensor([[0, 1.0, 1.0, 5.0, 5.0]])  # batch index, x1, y1, x2, y2
    out = roi_align(ramp, box, output_size=(2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    assert torch.allclose(out[0, 0], torch.tensor([[2.0, 4.0], [2.0, 4.0]]) - 0.5)
    keep = nms(torch.tensor([[0, 0, 10, 10.0], [1, 1, 10, 10.0], [20, 20, 30, 30.0]]),
               torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2]


def test_notebook_kernel_is_this_environment():
    from jupyter_client.manager import start_new_kernel

    names = {__import__("jupytext").read(p).metadata["kernelspec"]["name"] for p in lesson_paths()}
    assert names == {KERNELSPEC["name"]}
    km, kc = start_new_kernel(kernel_name=KERNELSPEC["name"])
    try:
        msgs = []
        kc.execute_interactive("import sys, segcourse; print(sys.prefix); print(segcourse.__file__)",
                               output_hook=lambda m: msgs.append(m), timeout=120)
        text = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    prefix, module = text.split()
    assert prefix == sys.prefix, "the lessons' kernel must run in the project's environment"
    import segcourse
    assert module == segcourse.__file__


def test_environment_yml_pins_what_the_lock_pins(root):
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for line in pip:
        if line.startswith("-e"):
            continue
        spec = line.split(";")[0].strip()
        name, version = spec.split("==")
        pins[name.lower()] = version
    assert "python=3.11" in env["dependencies"]
    locked = {k.lower(): v for k, v in locked_packages(root / "uv.lock").items()}
    assert pins == locked, "environment.yml is stale: run ./course lock"


def test_lock_pins_the_matched_torch_pair(root):
    lock = tomllib.loads((root / "uv.lock").read_text())
    versions = {p["name"]: p["version"] for p in lock["package"]}
    assert versions["torch"] == "2.13.0" and versions["torchvision"] == "0.28.0"
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert "torchvision==0.28.0" in project["dependencies"]


def test_segcourse_is_installed_not_path_hacked(root):
    import segcourse
    assert segcourse.__file__.startswith(str(root))
    for p in lesson_paths():
        assert "sys.path" not in p.read_text(), f"{p.name} must import the installed segcourse"


@pytest.mark.parametrize("cmd", ["open", "test"])
def test_readme_gives_the_two_commands_and_ci_calls_the_test_one(root, cmd):
    readme = (root / "README.md").read_text()
    assert f"./course {cmd}" in readme
    ci = (root / ".ci" / "run").read_text()
    assert "./course test" in ci
