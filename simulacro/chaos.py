"""`--chaos`: faults at random moments while the simulacro runs — a node service SIGKILLed (its
supervisor restarts it), HQ SIGKILLed (restarted after a while, as its operator would), the
link to HQ cut for a few seconds. The release must come out the same (DESIGN invariants 1, 2, 4).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from dataclasses import dataclass, field

from simulacro.cluster import Cluster
from simulacro.link import Link

log = logging.getLogger("catd.simulacro.chaos")
SERVICES = ("web", "scan", "sync")
KINDS = ("service", "hq", "link")
PAUSE_S = (1.0, 4.0)          # between faults
FIRST_PAUSE_S = (0.3, 1.0)    # before each of the first four
HQ_DOWN_S = (0.5, 4.0)
LINK_DOWN_S = (1.0, 6.0)


@dataclass
class Chaos:
    cluster: Cluster
    link: Link
    rng: random.Random
    killed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 0))
    hq_kills: int = 0
    link_down_s: float = 0.0
    events: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Inject faults until `stop` is set; leaves HQ running and the link up. The first four
        come quickly and are one of each kind (a service twice: web, then scan), so that even a
        short run meets them all; an outage (HQ down, link cut) runs beside the next faults."""
        first = [*KINDS, "service"]
        self.rng.shuffle(first)
        outages: dict[str, asyncio.Task[None]] = {}
        try:
            while not stop.is_set():
                pause = FIRST_PAUSE_S if first else PAUSE_S
                try:
                    await asyncio.wait_for(stop.wait(), self.rng.uniform(*pause))
                    break
                except TimeoutError:
                    pass
                kind = first.pop() if first else self.rng.choices(KINDS, weights=(55, 20, 25))[0]
                if kind == "service":
                    self.kill_service()
                elif kind not in outages or outages[kind].done():
                    outages[kind] = asyncio.create_task(self.kill_hq() if kind == "hq" else self.cut_link())
        finally:
            await asyncio.gather(*outages.values(), return_exceptions=True)
            self.link.restore()
            if self.cluster.hq_proc is None or self.cluster.hq_proc.poll() is not None:
                await asyncio.to_thread(self.cluster.start_hq)

    def kill_service(self) -> None:
        node = self.cluster.nodes[self.rng.choice(sorted(self.cluster.nodes))]
        # In turn, so that even a short run kills each service at least once.
        service = SERVICES[sum(self.killed.values()) % len(SERVICES)]
        pid = node.service_pids().get(service)
        if pid is None:
            return  # being restarted right now
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.killed[service] += 1
        self.events.append(f"SIGKILL {node.node_id} {service} (pid {pid})")
        log.info("chaos: SIGKILL %s %s pid=%d", node.node_id, service, pid)

    async def kill_hq(self) -> None:
        self.cluster.kill_hq()
        self.hq_kills += 1
        down = self.rng.uniform(*HQ_DOWN_S)
        self.events.append(f"SIGKILL HQ, down {down:.1f} s")
        log.info("chaos: SIGKILL HQ for %.1f s", down)
        await asyncio.sleep(down)
        await asyncio.to_thread(self.cluster.start_hq)

    async def cut_link(self) -> None:
        down = self.rng.uniform(*LINK_DOWN_S)
        self.link.cut()
        self.events.append(f"link cut {down:.1f} s")
        log.info("chaos: link cut for %.1f s", down)
        await asyncio.sleep(down)
        self.link.restore()
        self.link_down_s += down

    def summary(self) -> str:
        kills = ", ".join(f"{n} {s}" for s, n in self.killed.items())
        return (f"chaos: SIGKILLed node services ({kills}), HQ {self.hq_kills} times; "
                f"link cut {self.link.cuts} times ({self.link_down_s:.0f} s in all)")
