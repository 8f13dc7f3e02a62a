"""A throw-away single-node SLURM cluster (munged, slurmctld, slurmd) for the SLURM test.

Everything lives in one directory: the munge key and socket, ``slurm.conf``, state, spool,
logs and pid files; the daemons run in the foreground as children of this process and on
free TCP ports, so a system SLURM or munge (if any) is neither used nor disturbed. Clients
(``sbatch``, ``squeue``, ``srun`` inside the jobs) find the cluster through ``SLURM_CONF``
in :attr:`SlurmCluster.env`; jobs inherit it (the executor plugin submits with
``--export=ALL``).

Needs root (slurmd starts the jobs as the submitting user) and Debian's ``slurmctld``,
``slurmd``, ``slurm-client`` and ``munge`` packages (``.ci/run`` installs them).

Usable by hand as well::

    python tests/workflow/slurm_cluster.py /tmp/cluster   # start, print the environment, wait
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel")
OPTIONAL_CLIENTS = ("sacct", "sacctmgr", "sshare")
PARTITION = "xsurvey"
#: the cluster's default partition: a job lands in PARTITION only when it asks for it
DEFAULT_PARTITION = "batch"


def _which(name: str) -> str | None:
    # the daemons live in /usr/sbin, which is not on every user's PATH
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def unavailable_reason() -> str | None:
    """Why a local SLURM cluster cannot be started here (None if it can)."""
    if not sys.platform.startswith("linux"):
        return "SLURM test needs Linux"
    if os.geteuid() != 0:
        return "SLURM test needs root (slurmd runs jobs as the submitting user)"
    missing = [n for n in (*DAEMONS, *CLIENTS) if _which(n) is None]
    if missing:
        return ("SLURM binaries missing: " + ", ".join(missing)
                + " (apt-get install slurm-wlm munge)")
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_resources() -> tuple[int, int]:
    """CPUs available to this process and physical memory in MB."""
    cpus = len(os.sched_getaffinity(0))
    mem_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    return cpus, mem_mb


def slurm_version() -> tuple[int, ...]:
    """(major, minor) of the installed slurmd, e.g. (22, 5); (0,) if unknown."""
    try:
        out = subprocess.run([_which("slurmd"), "-V"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return (0,)
    m = re.search(r"(\d+)\.(\d+)", out)
    return (int(m[1]), int(m[2])) if m else (0,)


class SlurmCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(self, root: Path, *, min_memory_mb: int = 16000, min_job_age: int = 3600):
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.cpus, mem = node_resources()
        # slurmd trusts the configuration (SlurmdParameters=config_overrides), so the
        # profile's memory requests are schedulable on a small CI machine; the tiny demo
        # itself needs a few hundred MB per job.
        self.memory_mb = max(mem, min_memory_mb)
        self.min_job_age = min_job_age
        self.procs: dict[str, subprocess.Popen] = {}
        self.conf = self.root / "etc" / "slurm.conf"
        self.bin = self.root / "bin"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf),
                        PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}")

    # -- configuration -------------------------------------------------------------------
    def _write_config(self):
        r = self.root
        for d in ("etc", "munge", "state", "spool", "log", "run"):
            (r / d).mkdir(parents=True, exist_ok=True)
        # The jobstep executor drops SLURM_* variables before its `srun`, so the clients
        # are found through small wrappers that point them at this cluster's config.
        self.bin.mkdir(exist_ok=True)
        for name in (*CLIENTS, *OPTIONAL_CLIENTS):
            if _which(name) is None:
                continue
            wrapper = self.bin / name
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec {_which(name)} "$@"\n')
            wrapper.chmod(0o755)
        (r / "munge").chmod(0o755)  # munged wants its socket's directory traversable
        key = r / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        lines = {
            "ClusterName": "xsurveyci",
            "SlurmctldHost": f"{self.host}(127.0.0.1)",
            "SlurmctldPort": _free_port(),
            "SlurmdPort": _free_port(),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={r / 'munge' / 'munge.socket'}",
            "StateSaveLocation": r / "state",
            "SlurmdSpoolDir": r / "spool",
            "SlurmctldPidFile": r / "run" / "slurmctld.pid",
            "SlurmdPidFile": r / "run" / "slurmd.pid",
            "SlurmctldLogFile": r / "log" / "slurmctld.log",
            "SlurmdLogFile": r / "log" / "slurmd.log",
            "SlurmctldDebug": "info",
            "SlurmdDebug": "info",
            # no cgroups: plain process tracking, no task binding, no accounting daemon
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "JobCompType": "jobcomp/none",
            "MpiDefault": "none",
            "MailProg": "/bin/true",
            "SwitchType": "switch/none",
            "SchedulerType": "sched/backfill",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core_Memory",
            "SlurmdParameters": "config_overrides",
            "ReturnToService": 2,
            # finished jobs stay visible to squeue (the executor's status command here)
            "MinJobAge": self.min_job_age,
            "KillWait": 5,
            "InactiveLimit": 0,
            "SlurmctldTimeout": 30,
            "SlurmdTimeout": 60,
        }
        text = "".join(f"{k}={v}\n" for k, v in lines.items())
        text += (f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} "
                 f"RealMemory={self.memory_mb} State=UNKNOWN\n")
        for name, default in ((DEFAULT_PARTITION, "YES"), (PARTITION, "NO")):
            text += (f"PartitionName={name} Nodes={self.host} Default={default} "
                     "MaxTime=INFINITE State=UP\n")
        self.conf.write_text(text)
        if slurm_version() >= (24, 5):
            # no cgroups at all (containers); older slurmd autodetect and need them mounted
            (r / "etc" / "cgroup.conf").write_text("CgroupPlugin=disabled\n")

    # -- daemons -------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]):
        log = open(self.root / "log" / f"{name}.out", "ab")  # noqa: SIM115 (owned by Popen)
        self.procs[name] = subprocess.Popen([_which(name), *args], stdout=log,
                                            stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        log.close()

    def _check_alive(self):
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.logs()}")

    def run(self, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, timeout: float = 60.0) -> SlurmCluster:
        """Start the daemons and wait for the node to be idle (stops them on failure)."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> SlurmCluster:
        self._write_config()
        m = self.root / "munge"
        self._spawn("munged", ["--foreground", "--force", f"--socket={m / 'munge.socket'}",
                               f"--key-file={m / 'munge.key'}", f"--pid-file={m / 'munged.pid'}",
                               f"--seed-file={m / 'munged.seed'}",
                               f"--log-file={self.root / 'log' / 'munged.log'}"])
        deadline = time.monotonic() + timeout
        while not (m / "munge.socket").exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"munged did not start:\n{self.logs()}")
            time.sleep(0.1)
        self._spawn("slurmctld", ["-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["-D", "-f", str(self.conf), "-N", self.host])
        state = ""
        while time.monotonic() < deadline:
            self._check_alive()
            proc = self.run("sinfo", "--noheader", "--nodes", self.host, "--format", "%T")
            state = proc.stdout.strip()
            if proc.returncode == 0 and state == "idle":
                return self
            time.sleep(0.5)
        raise RuntimeError(f"node not idle after {timeout} s (state {state!r}):\n{self.logs()}")

    def stop(self):
        """Cancel remaining jobs, then stop slurmd, slurmctld and munged (in that order)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--full", "--user", str(os.getuid()), timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def logs(self, tail: int = 40) -> str:
        out = []
        for f in sorted((self.root / "log").glob("*")):
            lines = f.read_text(errors="replace").splitlines()[-tail:]
            out.append(f"==> {f.name} <==\n" + "\n".join(lines))
        return "\n".join(out)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    reason = unavailable_reason()
    if reason:
        sys.exit(reason)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the daemons on kill
    with SlurmCluster(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/xsurvey-slurm")) as c:
        print(f"export SLURM_CONF={c.conf}\n# partition {PARTITION}; Ctrl-C stops the cluster")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
