"""Hosts for tests, made of Linux network namespaces joined by veth pairs to a private bridge.

Each :class:`Host` is a namespace with its own address (10.77.0.x/24) and host name; a
"switch" namespace holds the bridge, so nothing is added to the machine's own network and no
packet leaves the namespaces we made. ``/etc/netns/<ns>/hosts`` lets hosts find each other by
name (``redis``), as containers do. Every process a host starts is stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The private subnet between our namespaces; never routed anywhere else.
SUBNET = "10.77.0"
ETC_NETNS = Path("/etc/netns")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def can_make_namespaces() -> str | None:
    """None if this machine lets us make network namespaces, else the reason it does not."""
    if os.geteuid() != 0:
        return "network namespaces need root (the cluster tests run as root in CI)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"mfprobe-{uuid.uuid4().hex[:6]}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    ip("netns", "delete", probe, check=False)
    return None


@dataclass
class Host:
    """One machine: a namespace, an address, a host name, and the processes started on it."""

    name: str
    ns: str
    address: str
    network: Network
    port: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(self, argv: Sequence[str], cpu: int | None = None) -> list[str]:
        """``argv`` run inside this host, with its own host name and optionally on one core."""
        pinned = ["taskset", "-c", str(cpu)] if cpu is not None else []
        return [
            "ip", "netns", "exec", self.ns,
            "unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', self.name,
            *pinned, *argv,
        ]  # fmt: skip

    def run(
        self, argv: Sequence[str], env: dict[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv), env=env, capture_output=True, text=True, timeout=timeout,
            check=False, cwd=self.network.cwd,
        )  # fmt: skip

    def start(
        self, argv: Sequence[str], env: dict[str, str], log: Path, cpu: int | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process in its own process group; it is stopped at clean-up."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                self.command(argv, cpu), env=env, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.network.cwd, start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def cut(self) -> None:
        """Pull the cable: the switch side of this host's link goes down."""
        ip("-n", self.network.switch, "link", "set", self.port, "down")

    def kill_all(self) -> None:
        """SIGKILL every process in this host's namespace (all of them are ours)."""
        pids = ip("netns", "pids", self.ns, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        for process in self.processes:
            process.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        """Warm-stop what we started (SIGTERM), then SIGKILL each group that is still there."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        self.kill_all()


class Network:
    """A bridge in its own namespace, and the hosts plugged into it."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.tag = uuid.uuid4().hex[:6]
        self.switch = f"mf{self.tag}-switch"
        self.hosts: list[Host] = []
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 1
        ns, port = f"mf{self.tag}-{name}", f"p{index}"
        address = f"{SUBNET}.{index}"
        ip("netns", "add", ns)
        peer = ["peer", "name", port, "netns", self.switch]
        ip("link", "add", "eth0", "netns", ns, "type", "veth", *peer)
        ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        host = Host(name, ns, address, self, port)
        self.hosts.append(host)
        self._write_hosts_files()
        return host

    def _write_hosts_files(self) -> None:
        lines = ["127.0.0.1 localhost"] + [f"{h.address} {h.name}" for h in self.hosts]
        for host in self.hosts:
            (ETC_NETNS / host.ns).mkdir(parents=True, exist_ok=True)
            (ETC_NETNS / host.ns / "hosts").write_text("\n".join(lines) + "\n")

    def close(self) -> None:
        for host in self.hosts:
            host.stop()
        for host in self.hosts:
            ip("netns", "delete", host.ns, check=False)
            shutil.rmtree(ETC_NETNS / host.ns, ignore_errors=True)
        ip("netns", "delete", self.switch, check=False)
