"""--ray on a real Ray cluster: a head and a worker node on this machine, inside a private
network namespace with only loopback (tests/ray_loopback.py), one cluster for the module.

Same outputs as a local run; a worker killed mid-batch (its pid from Ray's state API); Ctrl-C
and SIGTERM on the driver; resume; a long video in pieces over the cluster."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from portraitcli.media.atomic import TEMP_MARK
from tests.conftest import ROOT, make_person_clip, run_portraitcli
from tests.ray_loopback import LoopbackCluster, namespaces_available, parent

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    reason = namespaces_available()
    if reason:
        pytest.skip(f"no private network namespace: {reason}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop("PORTRAITCLI_CONFIG", None)
    with LoopbackCluster(nodes=2, cpus_per_node=1, env=env) as c:
        yield c


def portraitcli_args(*args) -> list[str]:
    return [sys.executable, "-m", "portraitcli", *map(str, args)]


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if TEMP_MARK in p.name]


def photo_folder(root: Path, rgb, count: int, size: int) -> Path:
    """A nested folder of small JPEGs."""
    for i in range(count):
        folder = root / ("a/b" if i % 3 == 0 else "a" if i % 3 == 1 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).resize((size + 8 * (i % 4), size)).save(folder / f"p{i:03d}.jpg", quality=90)
    return root


def report_rows(path: Path) -> list[tuple]:
    return sorted((f["input"], f["output"], f["status"], f["reason"]) for f in json.loads(path.read_text())["files"])


def wait_for_outputs(folder: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if folder.exists() and len([p for p in folder.rglob("*.*") if TEMP_MARK not in p.name]) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} outputs did not appear (driver exit {proc.poll()})")


def portrait_actors(cluster, count: int, timeout: float = 60) -> list[dict]:
    """The live PortraitActors (Ray's state API), once there are `count` of them."""
    deadline = time.time() + timeout
    while True:
        actors = [a for a in cluster.actors() if a["class_name"] == "PortraitActor" and a["pid"]]
        if len(actors) >= count or time.time() > deadline:
            return actors
        time.sleep(0.2)


def batch_completes_after_a_loss(driver: subprocess.Popen, out: Path, count: int) -> None:
    """The cutout batch, lost something mid-way, still ends with every output complete."""
    done_at_loss = len(list(out.rglob("*.png")))
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    assert done_at_loss < count, "the batch ended before the loss"
    assert f"{count} done, 0 skipped, 0 failed".encode() in err
    outputs = sorted(out.rglob("*.png"))
    assert len(outputs) == count
    for p in outputs:
        with Image.open(p) as im:
            im.load()  # complete files only
            assert im.mode == "RGBA"
    assert leftovers(out) == []


def test_ray_outputs_are_the_local_ones(cluster, tmp_path, astronaut_rgb):
    src = photo_folder(tmp_path / "src", astronaut_rgb, 6, 96)
    make_person_clip(src / "a" / "clip.mp4", astronaut_rgb, seconds=1)
    make_person_clip(src / "clip.mov", astronaut_rgb, seconds=1, audio=False)
    local = run_portraitcli("blur", "--jobs", "2", "--report", "local.json", "src", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    # relative paths on the command line: the actors work elsewhere, and must see the same files
    ray = cluster.run(portraitcli_args("blur", "--report", "ray.json", "src", "ray", "--ray", cluster.address),
                      cwd=tmp_path, capture_output=True, timeout=300)
    assert ray.returncode == 0, ray.stderr
    assert b"8 done, 0 skipped, 0 failed" in ray.stderr
    made = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    assert len(made) == 8 and made == sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*")
                                             if p.is_file())
    for rel in made:  # photos byte for byte, and the videos too (same frames, same encoder)
        assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
    local_rows = [(i, "ray" + o[len("local"):], s, r) for i, o, s, r in report_rows(tmp_path / "local.json")]
    assert report_rows(tmp_path / "ray.json") == local_rows  # the user's own names, as locally


def test_killed_worker_is_retried_and_the_batch_completes(cluster, tmp_path, astronaut_rgb):
    src = photo_folder(tmp_path / "src", astronaut_rgb, 36, 480)
    out = tmp_path / "out"
    driver = cluster.popen(portraitcli_args("cutout", src, out, "--ray", cluster.address),
                           stderr=subprocess.PIPE)
    actors = portrait_actors(cluster, 2)
    assert len(actors) == 2, actors  # one per node
    wait_for_outputs(out, 3, driver)
    victim = actors[-1]["pid"]
    os.kill(victim, signal.SIGKILL)  # a worker process dies mid-batch
    batch_completes_after_a_loss(driver, out, 36)
    assert victim not in [a["pid"] for a in cluster.actors()]


def test_ctrl_c_and_sigterm_stop_the_driver_and_a_rerun_resumes(cluster, tmp_path, astronaut_rgb):
    src = photo_folder(tmp_path / "src", astronaut_rgb, 40, 320)
    make_person_clip(src / "zz.mp4", astronaut_rgb, seconds=4)
    out = tmp_path / "out"
    env = dict(cluster.env, PORTRAITCLI_RAY=cluster.address)  # the address from the environment
    seen = 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        # SIGINT to the whole process group, as Ctrl-C in a terminal does
        driver = cluster.popen(portraitcli_args("replace-bg", "-b", "white", src, out), env=env,
                               stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        wait_for_outputs(out, seen + 3, driver)
        if sig == signal.SIGINT:
            os.killpg(driver.pid, sig)
        else:
            driver.send_signal(sig)
        _, err = driver.communicate(timeout=120)
        assert driver.returncode == 130, err
        assert b"(interrupted)" in err and b"Traceback" not in err
        assert leftovers(out) == []
        done = [p for p in out.rglob("*") if p.is_file()]
        assert seen + 3 <= len(done) < 41
        for p in done:
            if p.suffix == ".jpg":
                Image.open(p).load()
        seen = len(done)
    # the address from the config file this time
    config = tmp_path / "config.toml"
    config.write_text(f'ray = "{cluster.address}"\n')
    again = cluster.run(portraitcli_args("replace-bg", "-b", "white", src, out),
                        env=dict(cluster.env, PORTRAITCLI_CONFIG=str(config)), capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{41 - seen} done, {seen} skipped, 0 failed".encode() in again.stderr
    assert leftovers(out) == []


def test_long_video_in_pieces_on_the_cluster_survives_killed_workers(cluster, tmp_path, astronaut_rgb):
    from portraitcli.batch.pieces import plan_pieces
    from portraitcli.media.video import probe
    from tests.test_pieces import compare_split_to_whole, long_clip

    # 20 s, so that each piece takes seconds: a shorter clip was done before a piece file was seen
    clip = long_clip(tmp_path, astronaut_rgb, seconds=20)
    firsts = [p.first for p in plan_pieces(probe(clip), 2, tmp_path, ".mp4")]
    assert len(firsts) == 2
    whole = run_portraitcli("segment", "--crf", "0", "--split-over", "0", clip, tmp_path / "whole.mp4")
    assert whole.returncode == 0, whole.stderr
    split = tmp_path / "split.mp4"
    driver = cluster.popen(portraitcli_args("segment", "-v", "--crf", "0", "--split-over", "3", clip, split,
                                            "--ray", cluster.address), stderr=subprocess.PIPE)
    actors = portrait_actors(cluster, 2)
    assert len(actors) == 2, actors
    deadline = time.time() + 120
    pieces = []
    while time.time() < deadline and not pieces and driver.poll() is None:
        pieces = list(tmp_path.glob(f".*{TEMP_MARK}.parts/.piece_*"))  # a piece being written
        time.sleep(0.02)
    assert pieces, f"the pieces never started (driver exit {driver.poll()})"
    for actor in actors:  # the workers die, one of them mid-piece: its piece runs again
        os.kill(actor["pid"], signal.SIGKILL)
    assert not split.exists()
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    assert f"2 pieces from frames {firsts}".encode() in err
    diff = compare_split_to_whole(split, tmp_path / "whole.mp4", joins=firsts[1:])
    print("matte difference on the cluster (grey levels):", diff)
    assert diff["at_joins"] <= 0.05 * diff["frame_to_frame"], diff
    assert leftovers(tmp_path) == []


def test_without_ray_installed_ray_is_a_usage_error(tmp_path, astronaut_png):
    code = ("import sys; sys.modules['ray'] = None\n"  # what an install without the extra sees
            "from portraitcli.cli import main\n"
            f"sys.argv = ['portraitcli', 'blur', {str(astronaut_png)!r}, {str(tmp_path / 'o.png')!r}, "
            "'--ray', 'auto']\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'portraitcli[ray]'" in proc.stderr
    assert not (tmp_path / "o.png").exists()


def test_watch_and_ray_do_not_go_together(tmp_path, astronaut_png):
    proc = run_portraitcli("blur", "--watch", astronaut_png.parent, tmp_path / "out", "--ray", "auto", timeout=60)
    assert proc.returncode == 2 and b"--watch runs on this machine; use --ray for a batch" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_address_nobody_answers_on_fails_at_once(tmp_path, astronaut_png):
    reason = namespaces_available()
    if reason:
        pytest.skip(f"no private network namespace: {reason}")
    dest = tmp_path / "o.png"
    # in an empty loopback-only namespace: port 1 is certainly closed, and nothing leaves the host
    script = (f"ip link set lo up && {sys.executable} -m portraitcli blur {astronaut_png} {dest} --ray 127.0.0.1:1; "
              f"echo rc=$?; {sys.executable} -m portraitcli blur {astronaut_png} {dest} --ray nowhere; echo rc=$?; "
              # nothing to run (a dry run): no cluster is needed, none is asked
              f"{sys.executable} -m portraitcli blur {astronaut_png} {dest} --dry-run --ray 127.0.0.1:1; echo rc=$?")
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert "portraitcli: --ray 127.0.0.1:1: cannot connect to the Ray cluster (Connection refused)" in proc.stderr
    assert "expected auto, HOST:PORT or ray://HOST:PORT" in proc.stderr
    assert str(dest) in proc.stdout and "0 done, 1 skipped, 0 failed" in proc.stderr  # the dry run's list
    assert [word for word in proc.stdout.split() if word.startswith("rc=")] == ["rc=1", "rc=2", "rc=0"]
    assert not dest.exists()


def test_workers_that_cannot_start_stop_the_run_with_the_reason(cluster, tmp_path, astronaut_rgb):
    # the Python API, past the CLI's own checks: replace-bg without a background cannot make a
    # renderer, so no actor gets through its start
    src = photo_folder(tmp_path / "src", astronaut_rgb, 3, 64)
    code = ("import sys\n"
            "from portraitcli.batch import plan as planning\n"
            "from portraitcli.batch.batch import Batch\n"
            "from portraitcli.errors import PortraitError\n"
            "from portraitcli.options import RenderOptions, Settings\n"
            f"settings = Settings(render=RenderOptions('replace-bg'), ray={cluster.address!r})\n"
            "batch = Batch(settings, progress=False)\n"
            "try:\n"
            f"    batch.run(planning.plan([{str(src)!r}], {str(tmp_path / 'out')!r}, settings))\n"
            "except PortraitError as exc:\n"
            "    print('stopped:', exc)\n"
            "    sys.exit(3)\n")
    proc = cluster.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "stopped: a Ray worker could not start" in proc.stdout and "replace-bg needs --background" in proc.stdout
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").rglob("*.*")) == []


def test_a_lost_node_does_not_stop_the_batch(cluster, tmp_path, astronaut_rgb):
    # last in the module: the cluster has one node fewer afterwards
    # enough photos that the batch cannot finish while the node is being killed (a fast machine did)
    src = photo_folder(tmp_path / "src", astronaut_rgb, 60, 480)
    out = tmp_path / "out"
    driver = cluster.popen(portraitcli_args("cutout", src, out, "--ray", cluster.address), stderr=subprocess.PIPE)
    actors = portrait_actors(cluster, 2)
    assert len(actors) == 2, actors
    on_worker_node = [a for a in actors if parent(a["pid"]) == cluster.raylets[1]]
    assert len(on_worker_node) == 1, (actors, cluster.raylets)
    wait_for_outputs(out, 3, driver)
    # the second node goes down; its actor cannot come back anywhere (the head's CPU is taken),
    # so its files finish on the head's actor
    cluster.kill_node(cluster.raylets[1])
    batch_completes_after_a_loss(driver, out, 60)
