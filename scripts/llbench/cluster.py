"""A heterogeneous lingualinked cluster on one machine, from a scenario file (config/scenarios/*.json, format in
docs/benchmarks.md).

Mode "loopback" (no root): every daemon on 127.0.0.1; a device's CPU share becomes --emulate-speed, its uplink
--emulate-egress (bandwidth and latency emulated in the data plane's send path).
Mode "netns" (root): every daemon in its own network namespace, joined by veth pairs to a bridge; the uplink's
bandwidth is a `tc tbf` qdisc on the namespace's side of the veth, the CPU share a cgroup CPU quota
(share x cores), the memory a cgroup limit (budget + runtime allowance) -- real limits. Latency stays emulated in
the send path (`tc netem` is missing on many kernels).

Everything made is recorded in STATE/state.json *before* it is made, so `stop` undoes it even after the script that
made it was SIGKILLed. Processes are only killed if their command line names this state folder.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "bin")
LLD, LLCTL = os.path.join(BIN, "lingualinkd"), os.path.join(BIN, "llctl")
DEFAULT_STATE = os.environ.get("LL_CLUSTER_STATE", os.path.join(ROOT, "build", "cluster"))
RUNTIME_ALLOWANCE = 768 << 20  # netns: cgroup limit = budget + this (libtorch, buffers, page cache of shard reads)

_RATE = {"bit": 0.125, "kbit": 125, "Kbit": 125, "Mbit": 125e3, "Gbit": 125e6, "B/s": 1, "KB/s": 1e3, "MB/s": 1e6,
         "GB/s": 1e9, "KiB/s": 1024, "MiB/s": 1 << 20, "GiB/s": 1 << 30}
_TIME = {"s": 1, "ms": 1e-3, "us": 1e-6}
_SIZE = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


class ClusterError(Exception):
    pass


def _split_unit(text, units, what):
    text = str(text).strip()
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                value = float(text[: -len(unit)])
            except ValueError:
                break
            if value < 0:
                break
            return value * units[unit]
    if text in ("0", "0.0"):
        return 0.0
    raise ClusterError(f"bad {what} {text!r} (units: {', '.join(units)})")


def parse_rate(text):
    return _split_unit(text, _RATE, "bandwidth")


def parse_time(text):
    return _split_unit(text, _TIME, "latency")


def model_need(package, sessions=1):
    """Bytes a package needs on a cluster: weights plus the KV cache of its whole context for each session the plan
    admits (placement reserves it: docs/placement.md)."""
    try:
        manifest = json.load(open(os.path.join(package, "manifest.json")))
    except (OSError, ValueError) as e:
        raise ClusterError(f"{package} is not a model package: {e}")
    ctx = manifest["hyperparameters"]["context_length"]
    return sum(s["bytes"] + s["kv_bytes_per_token"] * ctx * sessions for s in manifest["shards"])


def load_scenario(path, model=None, sessions=1):
    """Reads and validates a scenario; resolves budgets ("0.4x" = 40% of the model's need) to bytes."""
    try:
        doc = json.load(open(path))
    except (OSError, ValueError) as e:
        raise ClusterError(f"{path}: {e}")
    devices = doc.get("devices") if isinstance(doc, dict) else None
    if not isinstance(devices, list) or not devices or len(devices) > 16:
        raise ClusterError(f"{path}: \"devices\" must be a list of 1..16 devices")
    need = None
    out, names = [], set()
    for i, d in enumerate(devices):
        where = f"{path}: devices[{i}]"
        if not isinstance(d, dict):
            raise ClusterError(f"{where}: not an object")
        unknown = set(d) - {"name", "cpu_share", "memory_budget", "link", "note"}
        if unknown:
            raise ClusterError(f"{where}: unknown keys {sorted(unknown)}")
        name = d.get("name", "")
        if not isinstance(name, str) or not name or len(name) > 32 or not all(c.isalnum() or c in "-_." for c in name):
            raise ClusterError(f"{where}: name must be 1-32 characters of [A-Za-z0-9._-]")
        if name in names:
            raise ClusterError(f"{where}: duplicate name {name}")
        names.add(name)
        share = d.get("cpu_share", 1.0)
        if not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise ClusterError(f"{where}: cpu_share must be in (0, 1]")
        budget = str(d.get("memory_budget", "1x"))
        if budget.endswith("x"):
            if model is None:
                raise ClusterError(f"{where}: memory_budget {budget} is relative to a model: pass --model PKG")
            need = need or model_need(model, sessions)
            try:
                budget_bytes = int(float(budget[:-1]) * need)
            except ValueError:
                raise ClusterError(f"{where}: bad memory_budget {budget!r}")
        else:
            budget_bytes = int(_split_unit(budget, _SIZE, "memory_budget"))
        if budget_bytes <= 0:
            raise ClusterError(f"{where}: memory_budget must be positive")
        link = d.get("link", {})
        if not isinstance(link, dict) or set(link) - {"bandwidth", "latency"}:
            raise ClusterError(f"{where}: link must be {{\"bandwidth\": \"20Mbit\", \"latency\": \"5ms\"}}")
        bandwidth = parse_rate(link.get("bandwidth", "0"))
        latency = parse_time(link.get("latency", "0"))
        if 0 < bandwidth < 1000 or latency > 10:
            raise ClusterError(f"{where}: link out of range (bandwidth >= 8kbit, latency <= 10s)")
        out.append({"name": name, "cpu_share": float(share), "memory_budget": budget_bytes,
                    "bandwidth": bandwidth, "latency": latency})
    return {"description": doc.get("description", ""), "devices": out}


def egress_flag(bandwidth, latency):
    return f"{bandwidth:.0f}B/s,{latency * 1e3:g}ms"


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise ClusterError(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def llctl(endpoint, *args, check=True, timeout=None, netns=None):
    cmd = [LLCTL, "--endpoint", endpoint, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise ClusterError(f"llctl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def llctl_json(endpoint, *args, **kw):
    return json.loads(llctl(endpoint, *args, "--json", **kw))


# --- cgroups (v1 or v2) -------------------------------------------------------------------------------------------

def cgroup_layout():
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    if os.path.isdir("/sys/fs/cgroup/cpu") and os.path.isdir("/sys/fs/cgroup/memory"):
        return "v1"
    return None


def cgroup_dirs(layout, group):
    if layout == "v2":
        return [f"/sys/fs/cgroup/{group}"]
    return [f"/sys/fs/cgroup/cpu/{group}", f"/sys/fs/cgroup/memory/{group}"]


def _write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def cgroup_setup(layout, group, cpu_share, memory_limit):
    cores = os.cpu_count() or 1
    # A short period (10 ms) throttles at a fine grain: the daemon's brief compute profile then sees the share too.
    period = 10000
    quota = max(1000, int(cpu_share * cores * period))
    if layout == "v2":
        try:
            _write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu +memory")
        except OSError:
            pass  # already enabled, or not delegable: the writes below say so
        d = f"/sys/fs/cgroup/{group}"
        os.makedirs(d, exist_ok=True)
        _write(f"{d}/cpu.max", f"{quota} {period}")
        _write(f"{d}/memory.max", memory_limit)
    else:
        cpu, mem = cgroup_dirs(layout, group)
        os.makedirs(cpu, exist_ok=True)
        os.makedirs(mem, exist_ok=True)
        _write(f"{cpu}/cpu.cfs_period_us", period)
        _write(f"{cpu}/cpu.cfs_quota_us", quota)
        _write(f"{mem}/memory.limit_in_bytes", memory_limit)
    return quota, period


def cgroup_read(layout, group):
    """What the kernel has applied: (quota, period, memory limit)."""
    if layout == "v2":
        d = f"/sys/fs/cgroup/{group}"
        q, p = open(f"{d}/cpu.max").read().split()
        return int(q), int(p), int(open(f"{d}/memory.max").read())
    cpu, mem = cgroup_dirs(layout, group)
    return (int(open(f"{cpu}/cpu.cfs_quota_us").read()), int(open(f"{cpu}/cpu.cfs_period_us").read()),
            int(open(f"{mem}/memory.limit_in_bytes").read()))


def _join_cgroups(dirs):
    pid = str(os.getpid())
    for d in dirs:
        _write(f"{d}/cgroup.procs", pid)


# --- state ----------------------------------------------------------------------------------------------------------

class State:
    """STATE/state.json: every resource, recorded before it is made."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.path = os.path.join(self.folder, "state.json")
        self.doc = {"resources": []}

    def exists(self):
        return os.path.exists(self.path)

    def load(self):
        with open(self.path) as f:
            self.doc = json.load(f)
        return self.doc

    def save(self):
        os.makedirs(self.folder, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.doc, f, indent=1)
        os.replace(tmp, self.path)

    def record(self, **resource):
        self.doc["resources"].append(resource)
        self.save()


def _owned(pid, folder):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return folder.encode() in f.read()
    except OSError:
        return False


def cleanup(folder=DEFAULT_STATE, quiet=False):
    """Undoes everything STATE/state.json records. Returns the list of what it removed."""
    state = State(folder)
    if not state.exists():
        return []
    try:
        doc = state.load()
    except (OSError, ValueError):
        doc = {"resources": []}
    done = []
    resources = doc.get("resources", [])
    procs = [r for r in resources if r.get("kind") == "process" and _owned(r["pid"], state.folder)]
    for r in procs:
        try:
            os.kill(r["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 10
    for r in procs:
        while _owned(r["pid"], state.folder) and time.time() < deadline:
            try:  # our own child: reap it
                if os.waitpid(r["pid"], os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.05)
        if _owned(r["pid"], state.folder):
            try:
                os.kill(r["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(r["pid"], 0)
        except ChildProcessError:
            pass
        done.append(f"process {r['pid']} ({r.get('name', '?')})")
    # Give the kernel a moment to empty the cgroups of killed processes.
    for r in reversed(resources):
        kind = r.get("kind")
        if kind == "cgroup":
            for d in r["dirs"]:
                for _ in range(50):
                    try:
                        if os.path.isdir(d):
                            os.rmdir(d)
                        break
                    except OSError:
                        time.sleep(0.1)
                else:
                    print(f"cluster: could not remove cgroup {d}")
            done.append(f"cgroup {r['group']}")
        elif kind == "netns":
            subprocess.run(["ip", "netns", "del", r["name"]], capture_output=True)
            done.append(f"netns {r['name']}")
        elif kind == "link":
            subprocess.run(["ip", "link", "del", r["name"]], capture_output=True)
            done.append(f"link {r['name']}")
    os.remove(state.path)
    if not quiet:
        for d in done:
            print(f"cluster: removed {d}")
    return done


# --- the cluster ----------------------------------------------------------------------------------------------------

class Cluster:
    def __init__(self, scenario, mode="loopback", state_dir=DEFAULT_STATE, tag="ll", rebalance=True, cooldown=5.0,
                 profile_seconds=0.3, extra_args=()):
        if mode not in ("loopback", "netns"):
            raise ClusterError("mode must be loopback or netns")
        if mode == "netns" and os.geteuid() != 0:
            raise ClusterError("netns mode needs root (network namespaces, tc, cgroups)")
        if not os.access(LLD, os.X_OK):
            raise ClusterError(f"{LLD} not found: run ./scripts/build")
        self.scenario, self.mode, self.tag = scenario, mode, tag
        self.state = State(state_dir)
        self.devices = scenario["devices"]
        self.names = [d["name"] for d in self.devices]
        self.rebalance, self.cooldown, self.profile_seconds = rebalance, cooldown, profile_seconds
        self.extra_args = list(extra_args)
        self.endpoints, self.pids, self.procs = [], [], []
        self.netns, self.groups = [], []
        self.layout = cgroup_layout() if mode == "netns" else None

    def start(self, timeout=60):
        if self.state.exists():
            print("cluster: cleaning up what a previous run left behind", flush=True)
            cleanup(self.state.folder)
        os.makedirs(os.path.join(self.state.folder, "logs"), exist_ok=True)
        self._make_keys()
        self.state.doc = {"mode": self.mode, "owner_pid": os.getpid(), "started_unix": time.time(),
                          "devices": self.names, "endpoints": [], "resources": []}
        self.state.save()
        try:
            if self.mode == "netns":
                self._start_netns()
            else:
                self._start_loopback()
            self.state.doc["endpoints"] = self.endpoints
            self.state.save()
            self._wait_converged(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _make_keys(self):
        """One CURVE keys folder for the cluster's daemons and this process's llctl (docs/security.md)."""
        keys = os.path.join(self.state.folder, "keys")
        if not os.path.exists(os.path.join(keys, "cluster.key")):
            shutil.rmtree(keys, ignore_errors=True)
            _run(LLCTL, "keygen", keys, "--cluster", "--authorize", "--name", "scripts-cluster", "--role", "device,admin")
        os.environ["LL_KEYS"] = keys  # llctl (ours and our children's) talks to the daemons with these keys
        self.keys = keys

    def _daemon_args(self, i, listen, egress):
        d = self.devices[i]
        data = os.path.join(self.state.folder, "data", d["name"])
        args = [LLD, "--name", d["name"], "--cluster", f"{self.tag}{os.getpid()}", "--listen", listen,
                "--peers", ",".join(self.endpoints), "--memory-budget", f"{d['memory_budget']}B",
                "--data-dir", data, "--keys", self.keys, "--no-beacon", "--profile-seconds", str(self.profile_seconds),
                "--rebalance-cooldown", str(self.cooldown)]
        if egress:
            args += ["--emulate-egress", egress]
        if not self.rebalance:
            args.append("--no-rebalance")
        if "--speculate" not in self.extra_args:
            # One token per step unless a section asks (the speculation section asks per generation): the other
            # sections' figures stay comparable with their earlier runs.
            args += ["--speculate", "off"]
        return args + self.extra_args

    def _spawn(self, name, args, preexec=None):
        log = open(os.path.join(self.state.folder, "logs", f"{name}.log"), "a")
        p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                             preexec_fn=preexec)
        self.procs.append(p)
        self.pids.append(p.pid)
        self.state.record(kind="process", pid=p.pid, name=name)

    def _start_loopback(self):
        self.endpoints = [f"tcp://127.0.0.1:{p}" for p in _free_ports(len(self.devices))]
        for i, d in enumerate(self.devices):
            args = self._daemon_args(i, self.endpoints[i], egress_flag(d["bandwidth"], d["latency"])
                                     if d["bandwidth"] > 0 or d["latency"] > 0 else None)
            args += ["--emulate-speed", str(d["cpu_share"])]
            self._spawn(d["name"], args)

    def _start_netns(self):
        if self.layout is None:
            raise ClusterError("no cgroup cpu and memory controllers under /sys/fs/cgroup")
        k = os.getpid() % 200 + 20
        short = f"{os.getpid() % 100000}"
        bridge = f"llbr{short}"
        self.state.record(kind="link", name=bridge)
        _run("ip", "link", "add", bridge, "type", "bridge")
        _run("ip", "addr", "add", f"10.78.{k}.1/24", "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        self.endpoints = [f"tcp://10.78.{k}.{10 + i}:7700" for i in range(len(self.devices))]
        self.state.doc["bridge"] = bridge
        for i, d in enumerate(self.devices):
            ns, host, inner = f"llns{short}-{i}", f"llh{short}-{i}", f"lln{short}-{i}"
            self.state.record(kind="netns", name=ns)
            _run("ip", "netns", "add", ns)
            self.state.record(kind="link", name=host)
            _run("ip", "link", "add", host, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", inner, "netns", ns)
            _run("ip", "link", "set", host, "master", bridge)
            _run("ip", "link", "set", host, "up")
            _run("ip", "-n", ns, "addr", "add", f"10.78.{k}.{10 + i}/24", "dev", inner)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "link", "set", inner, "up")
            if d["bandwidth"] > 0:  # the device's uplink: everything leaving its namespace
                bits = int(d["bandwidth"] * 8)
                burst = max(32 * 1024, int(d["bandwidth"] / 100))
                _run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", inner, "root", "tbf", "rate",
                     f"{bits}bit", "burst", str(burst), "latency", "500ms")
            self.netns.append({"ns": ns, "dev": inner})
            group = f"{self.tag}-{short}-{d['name']}"
            dirs = cgroup_dirs(self.layout, group)
            self.state.record(kind="cgroup", group=group, dirs=dirs)
            cgroup_setup(self.layout, group, d["cpu_share"], d["memory_budget"] + RUNTIME_ALLOWANCE)
            self.groups.append(group)
        self.state.save()
        for i, d in enumerate(self.devices):
            egress = egress_flag(0, d["latency"]) if d["latency"] > 0 else None  # bandwidth: tc tbf
            args = ["ip", "netns", "exec", self.netns[i]["ns"]] + self._daemon_args(i, self.endpoints[i], egress)
            dirs = cgroup_dirs(self.layout, self.groups[i])
            self._spawn(d["name"], args, preexec=lambda dirs=dirs: _join_cgroups(dirs))

    def _wait_converged(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p, name in zip(self.procs, self.names):
                if p.poll() is not None:
                    raise ClusterError(f"daemon {name} exited ({p.returncode}); see {self.log(name)}")
            try:
                s = llctl_json(self.endpoints[0], "status", timeout=10)
                if s.get("leader") and s.get("members_alive") == len(self.devices):
                    time.sleep(1.5)  # profiles and link figures reach the leader
                    return
            except (ClusterError, ValueError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.3)
        raise ClusterError(f"daemons did not converge within {timeout} s; logs in {self.state.folder}/logs")

    def log(self, name):
        return os.path.join(self.state.folder, "logs", f"{name}.log")

    def leader(self):
        return llctl_json(self.endpoints[0], "status")["leader"]

    def endpoint_of(self, name):
        return self.endpoints[self.names.index(name)]

    def pid_of(self, name):
        return self.pids[self.names.index(name)]

    def load(self, package, policy="optimal", timeout=900, max_sessions=1):
        args = ["load", package, "--timeout", str(timeout), "--max-sessions", str(max_sessions)]
        if policy != "optimal":
            args += ["--policy", policy]
        llctl(self.endpoints[0], *args)
        return llctl_json(self.endpoint_of(self.leader()), "plan")

    def stop(self):
        cleanup(self.state.folder, quiet=True)
        for p in self.procs:
            try:
                p.wait(1)
            except subprocess.TimeoutExpired:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def purge(folder=DEFAULT_STATE):
    """Also drops the daemons' data folders (cached shards)."""
    shutil.rmtree(os.path.join(folder, "data"), ignore_errors=True)
