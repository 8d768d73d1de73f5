"""vm/host.py: work handed to the VM thread runs there, and work the VM thread will
never run (it stopped, or died of a bug) fails with VMStopped at once instead of
leaving its caller waiting for ever. In-process, with a real machine."""
from __future__ import annotations

import threading

import pytest

from smalltalk_vm.repl.session import ReplSession
from smalltalk_vm.vm.host import VMHost, VMStopped


def test_work_runs_on_the_vm_thread(vm):
    host = VMHost(vm.machine)
    host.start()
    try:
        assert host.call(lambda: threading.current_thread().name, timeout=10) == "vm"
    finally:
        host.stop()


def test_work_submitted_after_the_vm_thread_ended_fails_at_once(vm):
    host = VMHost(vm.machine)
    host.start()
    host.stop()
    assert not host.alive
    with pytest.raises(VMStopped):
        host.submit(lambda: 1).result(timeout=5)       # before: TimeoutError, the work never ran


def test_work_waiting_when_the_vm_thread_dies_fails(vm):
    host = VMHost(vm.machine)
    gate = threading.Event()

    def die() -> None:
        gate.wait(5)
        raise SystemExit("a bug in the loop")       # not Exception: it ends the VM thread

    host.scheduler.post(die)
    host.start()
    stranded = host.submit(lambda: 1)               # queued behind the failing work
    gate.set()
    with pytest.raises(VMStopped, match="VM thread failed"):
        stranded.result(timeout=10)
    assert host.failure is not None



def test_a_do_it_queued_when_the_vm_thread_dies_answers_quit(vm):
    """The REPL session waited for ever on the start of a do-it the VM never ran."""
    host = VMHost(vm.machine)
    session = ReplSession(vm.machine, host=host)
    gate = threading.Event()

    def die() -> None:
        gate.wait(5)
        raise SystemExit("a bug in the loop")

    host.scheduler.post(die)
    host.start()
    answers: list = []
    waiter = threading.Thread(target=lambda: answers.append(session.evaluate("3 + 4")), daemon=True)
    waiter.start()
    gate.set()
    waiter.join(timeout=15)
    assert answers and answers[0].kind == "quit", answers
    assert "VM thread failed" in answers[0].text
