"""``modelfleet status`` on Sentinel: the master, its replicas and each sentinel's view.

Asked of every sentinel the URLs name, so a sentinel that is down or sees another master
shows. A failover needs a replica to promote and a quorum of sentinels to agree: fewer than
two of either leaves the fleet one failure away from stopping, which we say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from worker_config import clients, sentinel
from worker_config.settings import Settings

#: Fewer reachable replicas or sentinels than this gets a warning.
MIN_HEALTHY = 2
#: Sentinel flags that mean a replica cannot be promoted.
_DOWN_FLAGS = {"s_down", "o_down", "disconnected"}


@dataclass
class SentinelView:
    """What the sentinels of one URL report about the master ``MODELFLEET_SENTINEL_MASTER``."""

    name: str
    #: ``host:port`` of each sentinel -> the master it reports, or why it did not answer.
    sentinels: dict[str, str] = field(default_factory=dict)
    #: ``host:port`` of each replica -> ``ok`` or its Sentinel flags.
    replicas: dict[str, str] = field(default_factory=dict)
    master: str | None = None

    @property
    def reachable(self) -> int:
        return sum(1 for seen in self.sentinels.values() if not seen.startswith("unreachable"))

    @property
    def healthy_replicas(self) -> int:
        return sum(1 for state in self.replicas.values() if state == "ok")

    def lines(self) -> list[str]:
        agreed = {seen for seen in self.sentinels.values() if not seen.startswith("unreachable")}
        return [
            f"master '{self.name}': {self.master or 'UNKNOWN'}"
            + ("" if len(agreed) <= 1 else f" (sentinels disagree: {sorted(agreed)})"),
            "replicas: "
            + (", ".join(f"{addr} {state}" for addr, state in self.replicas.items()) or "none"),
            f"sentinels: {self.reachable} of {len(self.sentinels)} reachable: "
            + ", ".join(f"{addr} -> {seen}" for addr, seen in self.sentinels.items()),
        ]

    def warnings(self) -> list[str]:
        found = []
        if self.healthy_replicas < MIN_HEALTHY:
            found.append(
                f"only {self.healthy_replicas} replica(s) of '{self.name}' can take over; after "
                "the next failover Redis has no spare copy: add replicas (docs/deploy.md)"
            )
        if self.reachable < MIN_HEALTHY:
            found.append(
                f"only {self.reachable} of {len(self.sentinels)} sentinels answer; a failover "
                "needs a quorum of them: start the others"
            )
        return found


def _address(info: dict[str, Any]) -> str:
    return f"{info.get('ip')}:{info.get('port')}"


def view(settings: Settings, url: str) -> SentinelView:
    """Ask every sentinel of ``url`` for the master; the first that answers for its replicas."""
    result = SentinelView(settings.sentinel_master)
    for address, client in clients.sentinels(settings, url):
        try:
            master: dict[str, Any] = client.sentinel_master(settings.sentinel_master)  # type: ignore[assignment]
        except (redis.RedisError, OSError) as exc:
            result.sentinels[address] = f"unreachable ({exc})"
            continue
        result.sentinels[address] = _address(master)
        if result.master is None:
            result.master = _address(master)
            replicas: list[dict[str, Any]] = client.sentinel_slaves(settings.sentinel_master)
            for replica in replicas:
                flags = set(str(replica.get("flags", "")).split(","))
                down = sorted(flags & _DOWN_FLAGS)
                result.replicas[_address(replica)] = (
                    "DOWN (" + ",".join(down) + ")" if down else "ok"
                )
    return result


def sentinel_views(settings: Settings) -> list[tuple[str, SentinelView]]:
    """One view per set of sentinels behind the broker and the result backend."""
    groups: dict[tuple[tuple[str, int], ...], tuple[list[str], str]] = {}
    for role, url in (("broker", settings.broker_url), ("result backend", settings.result_backend)):
        if sentinel.is_sentinel(url):
            key = clients.parse_sentinel_url(url).sentinels
            groups.setdefault(key, ([], url))[0].append(role)
    return [(" and ".join(roles), view(settings, url)) for roles, url in groups.values()]
