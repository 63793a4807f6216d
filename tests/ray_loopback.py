"""A real Ray cluster on this machine, a head and worker nodes, inside a private network
namespace that has only the loopback interface: nothing it starts can bind to, or be reached
on, anything but 127.0.0.1. Used by tests/test_cluster.py and bench/cluster.py.

    with LoopbackCluster(nodes=2) as cluster:
        cluster.run([sys.executable, "-m", "portraitcli", ..., "--ray", cluster.address])

The namespace is held by a `sleep` started under `unshare --net` (root, as CI runs); every
command enters it with `nsenter --net`, and `ray start` daemons started that way stay in it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PORT = 6379


def namespaces_available() -> str | None:
    """None when private network namespaces work here, else why not."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare --net failed ({probe.stderr.strip() or probe.returncode}); needs root"
    return None


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _ancestor(pid: int, ancestor: int) -> bool:
    while pid > 1:
        pid = parent(pid)
        if pid == ancestor:
            return True
    return False


class LoopbackCluster:
    def __init__(self, nodes: int = 2, cpus_per_node: int = 1, env: dict | None = None):
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.address = f"127.0.0.1:{PORT}"
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self.holder: subprocess.Popen | None = None
        self.temp_dir = None
        self.raylets: list[int] = []  # each node's raylet, the head's first

    # ----------------------------------------------------------------------- namespace

    def command(self, args: list[str]) -> list[str]:
        """args run inside the namespace."""
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *args]

    def run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        kw.setdefault("env", self.env)
        return subprocess.run(self.command(args), **kw)

    def popen(self, args: list[str], **kw) -> subprocess.Popen:
        kw.setdefault("env", self.env)
        return subprocess.Popen(self.command(args), **kw)

    # ----------------------------------------------------------------------- cluster

    def start(self) -> "LoopbackCluster":
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        deadline = time.time() + 10
        while not os.path.exists(f"/proc/{self.holder.pid}/ns/net") and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # unshare has replaced itself by sleep inside the new namespace
        self.run(["ip", "link", "set", "lo", "up"], check=True)
        # a short private folder: Ray's socket paths must stay under the Unix limit
        self.temp_dir = tempfile.mkdtemp(prefix="pcray", dir="/tmp")
        ray = [sys.executable, "-m", "ray.scripts.scripts", "start"]
        common = ["--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus_per_node}",
                  "--object-store-memory=80000000", "--disable-usage-stats"]
        self._start_node(ray + ["--head", f"--port={PORT}", "--dashboard-host=127.0.0.1",
                                f"--temp-dir={self.temp_dir}"] + common)
        for _ in range(self.nodes - 1):
            self._start_node(ray + [f"--address={self.address}"] + common)
        self.wait_for_cpus(self.nodes * self.cpus_per_node)
        return self

    def _start_node(self, args: list[str]) -> None:
        proc = self.run(args, capture_output=True, text=True, timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        self.raylets += [pid for pid in self.processes() if _name(pid) == "raylet" and pid not in self.raylets]

    def kill_node(self, raylet: int) -> None:
        """A node lost at once, as a machine that goes down: its raylet and every process under it."""
        doomed = [raylet] + [pid for pid in self.processes() if _ancestor(pid, raylet)]
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def python(self, code: str, timeout: float = 120) -> str:
        """Run Python in the namespace, connected to the cluster; returns its stdout."""
        script = ("import ray, json, sys\n"
                  f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n" + code)
        proc = self.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"cluster python failed: {proc.stderr[-3000:]}")
        return proc.stdout

    def wait_for_cpus(self, cpus: int, timeout: float = 120) -> None:
        code = ("import time\n"
                f"deadline = time.time() + {timeout}\n"
                f"while ray.cluster_resources().get('CPU', 0) < {cpus} and time.time() < deadline:\n"
                "    time.sleep(0.2)\n"
                "print(ray.cluster_resources().get('CPU', 0))\n")
        got = float(self.python(code, timeout=timeout + 60).strip().splitlines()[-1])
        if got < cpus:
            raise RuntimeError(f"the cluster has {got} CPUs, expected {cpus}")

    def actors(self) -> list[dict]:
        """Live actors from Ray's state API: class name, pid, node."""
        code = ("from ray.util.state import list_actors\n"
                "rows = list_actors(filters=[('state', '=', 'ALIVE')], raise_on_missing_output=False)\n"
                "print(json.dumps([{'class_name': a.class_name, 'pid': a.pid, 'node_id': a.node_id} "
                "for a in rows]))\n")
        return json.loads(self.python(code).strip().splitlines()[-1])

    def processes(self) -> list[int]:
        """Every process in this namespace (the cluster's daemons, workers, their children):
        ours alone, whatever else runs Ray on the machine."""
        mine = os.readlink(f"/proc/{self.holder.pid}/ns/net")
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != self.holder.pid:
                try:
                    if os.readlink(f"/proc/{name}/ns/net") == mine:
                        pids.append(int(name))
                except OSError:
                    pass
        return pids

    def stop(self) -> None:
        """Stop the cluster by process id: what runs in our namespace, then its holder."""
        if self.holder is None:
            return
        try:
            for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                for pid in self.processes():
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.time() + wait
                while self.processes() and time.time() < deadline:
                    time.sleep(0.1)
        finally:
            self.holder.kill()
            self.holder.wait()
            self.holder = None
            if self.temp_dir:
                shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
