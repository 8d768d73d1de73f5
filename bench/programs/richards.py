"""Native twin of Richards.som: the task scheduler simulation (idle, work, two
handler and two device tasks exchanging packets by priority).

Task identities: 1 idle, 2 work, 3 and 4 handlers, 5 and 6 devices. Packet kinds:
0 device, 1 work. State bits: 1 packet pending, 2 waiting, 4 held.
"""
from __future__ import annotations


class Packet:
    __slots__ = ("data", "datum", "identity", "kind", "link")

    def __init__(self, link: Packet | None, identity: int, kind: int) -> None:
        self.link = link
        self.identity = identity
        self.kind = kind
        self.datum = 0
        self.data = [0, 0, 0, 0]

    def add_to(self, queue: Packet | None) -> Packet:
        """Append myself to the end of queue; answer the queue's new head."""
        self.link = None
        if queue is None:
            return self
        last = queue
        while last.link is not None:
            last = last.link
        last.link = self
        return queue


class Tcb:
    __slots__ = ("identity", "input", "link", "priority", "state", "task")

    def __init__(self, link: Tcb | None, identity: int, priority: int,
                 queue: Packet | None, task: object) -> None:
        self.link = link
        self.identity = identity
        self.priority = priority
        self.input = queue
        self.task = task
        self.state = 2 if queue is None else 3

    def set_running(self) -> None:
        self.state = 0

    def mark_as_held(self) -> None:
        self.state = self.state | 4

    def mark_as_not_held(self) -> None:
        self.state = self.state & 3

    def mark_as_suspended(self) -> None:
        self.state = self.state | 2

    def mark_as_packet_pending(self) -> None:
        self.state = self.state | 1

    def is_held_or_suspended(self) -> bool:
        return (self.state & 4) != 0 or self.state == 2

    def run(self) -> Tcb | None:
        if self.state == 3:
            packet = self.input
            self.input = packet.link
            self.state = 0 if self.input is None else 1
        else:
            packet = None
        return self.task.run_with(packet)

    def check_priority_add(self, running: Tcb, packet: Packet) -> Tcb:
        if self.input is None:
            self.input = packet
            self.mark_as_packet_pending()
            if self.priority > running.priority:
                return self
        else:
            self.input = packet.add_to(self.input)
        return running


class Idle:
    def __init__(self, scheduler: Richards, count: int) -> None:
        self.scheduler = scheduler
        self.seed = 1
        self.count = count

    def run_with(self, packet: Packet | None) -> Tcb | None:
        self.count = self.count - 1
        if self.count == 0:
            return self.scheduler.hold_current()
        if (self.seed & 1) == 0:
            self.seed = self.seed >> 1
            return self.scheduler.release(5)
        self.seed = (self.seed >> 1) ^ 0xD008
        return self.scheduler.release(6)


class Worker:
    def __init__(self, scheduler: Richards) -> None:
        self.scheduler = scheduler
        self.destination = 3
        self.letter = 0

    def run_with(self, packet: Packet | None) -> Tcb | None:
        if packet is None:
            return self.scheduler.suspend_current()
        self.destination = 4 if self.destination == 3 else 3
        packet.identity = self.destination
        packet.datum = 0
        data = packet.data
        for i in range(4):
            self.letter = self.letter + 1
            if self.letter > 26:
                self.letter = 1
            data[i] = self.letter
        return self.scheduler.queue(packet)


class Handler:
    def __init__(self, scheduler: Richards) -> None:
        self.scheduler = scheduler
        self.work: Packet | None = None
        self.devices: Packet | None = None

    def run_with(self, packet: Packet | None) -> Tcb | None:
        if packet is not None:
            if packet.kind == 1:
                self.work = packet.add_to(self.work)
            else:
                self.devices = packet.add_to(self.devices)
        work = self.work
        if work is not None:
            index = work.datum
            if index < 4:
                if self.devices is not None:
                    device = self.devices
                    self.devices = device.link
                    device.datum = work.data[index]
                    work.datum = index + 1
                    return self.scheduler.queue(device)
            else:
                self.work = work.link
                return self.scheduler.queue(work)
        return self.scheduler.suspend_current()


class Device:
    def __init__(self, scheduler: Richards) -> None:
        self.scheduler = scheduler
        self.pending: Packet | None = None

    def run_with(self, packet: Packet | None) -> Tcb | None:
        if packet is None:
            if self.pending is None:
                return self.scheduler.suspend_current()
            finished = self.pending
            self.pending = None
            return self.scheduler.queue(finished)
        self.pending = packet
        return self.scheduler.hold_current()


class Richards:
    def __init__(self) -> None:
        self.task_list: Tcb | None = None
        self.tcbs: list[Tcb | None] = [None] * 7   # 1-based task identities
        self.current_tcb: Tcb | None = None
        self.current_id = 0
        self.queue_count = 0
        self.hold_count = 0

    def add_task(self, identity: int, priority: int, queue: Packet | None, task: object) -> None:
        self.current_tcb = Tcb(self.task_list, identity, priority, queue, task)
        self.task_list = self.current_tcb
        self.tcbs[identity] = self.current_tcb

    def device_packets_for(self, identity: int) -> Packet:
        queue = None
        for _ in range(3):
            queue = Packet(queue, identity, 0)
        return queue

    def run_idle_count(self, count: int) -> list[int]:
        self.add_task(1, 0, None, Idle(self, count))
        self.current_tcb.set_running()
        queue = Packet(None, 2, 1)
        queue = Packet(queue, 2, 1)
        self.add_task(2, 1000, queue, Worker(self))
        self.add_task(3, 2000, self.device_packets_for(5), Handler(self))
        self.add_task(4, 3000, self.device_packets_for(6), Handler(self))
        self.add_task(5, 4000, None, Device(self))
        self.add_task(6, 5000, None, Device(self))
        self.schedule()
        return [self.queue_count, self.hold_count]

    def schedule(self) -> None:
        self.current_tcb = self.task_list
        while self.current_tcb is not None:
            if self.current_tcb.is_held_or_suspended():
                self.current_tcb = self.current_tcb.link
            else:
                self.current_id = self.current_tcb.identity
                self.current_tcb = self.current_tcb.run()

    def hold_current(self) -> Tcb | None:
        self.hold_count = self.hold_count + 1
        self.current_tcb.mark_as_held()
        return self.current_tcb.link

    def suspend_current(self) -> Tcb:
        self.current_tcb.mark_as_suspended()
        return self.current_tcb

    def release(self, identity: int) -> Tcb:
        tcb = self.tcbs[identity]
        tcb.mark_as_not_held()
        if tcb.priority > self.current_tcb.priority:
            return tcb
        return self.current_tcb

    def queue(self, packet: Packet) -> Tcb:
        target = self.tcbs[packet.identity]
        self.queue_count = self.queue_count + 1
        packet.link = None
        packet.identity = self.current_id
        return target.check_priority_add(self.current_tcb, packet)


def benchmark(repetitions: int) -> list[int]:
    queued = held = 0
    for _ in range(repetitions):
        counts = Richards().run_idle_count(1000)
        queued += counts[0]
        held += counts[1]
    return [queued, held]


def verify(repetitions: int, result: object) -> bool:
    """The published counts of the Richards simulation with an idle count of 1000:
    2322 packets queued and 928 holds per run."""
    return result == [2322 * repetitions, 928 * repetitions]
