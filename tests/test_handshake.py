"""The handshake protocol (node/handshake.py) without sockets: the mutual HMAC proof,
refusals, one-use sessions, and hostile input; and the cookie sources
(node/cookie.py)."""
from __future__ import annotations

import os

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.node import handshake as H
from smalltalk_vm.node.cookie import CookieError, resolve_cookie

COOKIE = b"the-shared-secret-cookie"


def identity(name: str, **changes) -> H.Identity:
    fields = {"creation": 17, "address": "127.0.0.1:5000", "vm_version": "0.1.0+test"}
    fields.update(changes)
    return H.Identity(name, **fields)


def exchange(caller_cookie: bytes = COOKIE, callee_cookie: bytes = COOKIE, admit=lambda peer: False):
    """Run every step; answer (caller, callee, sessions, the bytes that went over)."""
    sessions = H.Sessions()
    callee = H.Callee(identity("a"), callee_cookie, sessions)
    caller = H.Caller(identity("b", creation=99), caller_cookie)
    wire = []
    hello = caller.hello()
    welcome, pending = callee.on_hello(hello, admit)
    caller.on_welcome(welcome)
    proof = caller.proof()
    wire += [hello, welcome, proof]
    accepted, _ = callee.on_proof(proof)
    wire.append(accepted)
    caller.on_accepted(accepted)
    return caller, pending, sessions, wire


def test_a_full_handshake_proves_both_sides_and_opens_one_session() -> None:
    caller, pending, sessions, wire = exchange()
    assert caller.peer.name == "a" and pending.peer.name == "b" and pending.peer.creation == 99
    assert sessions.take(caller.session) is pending
    with pytest.raises(H.Refusal, match="unknown or expired session"):
        sessions.take(caller.session)          # valid once
    assert not any(COOKIE in message for message in wire)


def test_a_wrong_cookie_is_refused_by_the_callee_which_checks_first() -> None:
    with pytest.raises(H.Refusal) as refused:
        exchange(caller_cookie=b"another-cookie")
    assert refused.value.reason == H.BAD_COOKIE
    assert refused.value.pending is not None and refused.value.pending.peer.name == "b"


def test_a_callee_without_the_cookie_cannot_answer_the_callers_challenge() -> None:
    sessions = H.Sessions()
    callee = H.Callee(identity("a"), COOKIE, sessions)
    caller = H.Caller(identity("b"), COOKIE)
    welcome, _ = callee.on_hello(caller.hello(), lambda peer: False)
    caller.on_welcome(welcome)
    caller.proof()
    forged = cbor2.dumps(["accepted", H.proof(b"guess", "callee", os.urandom(32), "a", "b")])
    with pytest.raises(H.Refusal) as refused:
        caller.on_accepted(forged)
    assert refused.value.reason == H.BAD_COOKIE


def test_proofs_are_bound_to_role_challenge_and_names() -> None:
    challenge = os.urandom(32)
    base = H.proof(COOKIE, "caller", challenge, "b", "a")
    assert base != H.proof(COOKIE, "callee", challenge, "b", "a")
    assert base != H.proof(COOKIE, "caller", os.urandom(32), "b", "a")
    assert base != H.proof(COOKIE, "caller", challenge, "a", "b")
    assert H.proof(COOKIE, "caller", challenge, "ab", "c") != H.proof(COOKIE, "caller", challenge, "a", "bc")


def test_another_protocol_version_or_schema_is_refused_by_name() -> None:
    callee = H.Callee(identity("a"), COOKIE, H.Sessions())
    for changes, reason in (({"protocol": 2}, H.VERSION_MISMATCH), ({"schema": "0" * 16}, H.SCHEMA_MISMATCH)):
        caller = H.Caller(identity("b", **changes), COOKIE)
        with pytest.raises(H.Refusal) as refused:
            callee.on_hello(caller.hello(), lambda peer: False)
        assert refused.value.reason == reason
    # a caller hearing of another schema refuses too
    caller = H.Caller(identity("b"), COOKIE)
    welcome = cbor2.dumps(["welcome", *identity("a", schema="f" * 16).fields(), os.urandom(32), b"s", False])
    with pytest.raises(H.Refusal) as refused:
        caller.on_welcome(welcome)
    assert refused.value.reason == H.SCHEMA_MISMATCH


def test_a_newer_protocol_is_told_apart_from_a_malformed_hello() -> None:
    callee = H.Callee(identity("a"), COOKIE, H.Sessions())
    with pytest.raises(H.Refusal) as refused:
        callee.on_hello(cbor2.dumps(["hello", 7, "anything", "else"]), lambda peer: False)
    assert refused.value.reason == H.VERSION_MISMATCH


def test_the_callers_refusal_reason_reaches_it() -> None:
    caller = H.Caller(identity("b"), COOKIE)
    with pytest.raises(H.Refusal) as refused:
        caller.on_welcome(H.refusal_message(H.Refusal(H.NAME_IN_USE, "taken")))
    assert refused.value.reason == H.NAME_IN_USE and refused.value.detail == "taken"


def test_sessions_expire(monkeypatch) -> None:
    sessions = H.Sessions()
    pending = sessions.open(identity("b"), False)
    pending.proven = True
    monkeypatch.setattr(H.time, "monotonic", lambda: pending.expires + 1)
    assert sessions.expired() == [pending]
    with pytest.raises(H.Refusal):
        sessions.take(pending.session)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_hostile_handshake_bytes_raise_only_refusal(data) -> None:
    callee = H.Callee(identity("a"), COOKIE, H.Sessions())
    for step in (lambda: callee.on_hello(data, lambda peer: False), lambda: callee.on_proof(data)):
        try:
            step()
        except H.Refusal:
            pass


@settings(max_examples=200)
@given(st.lists(st.one_of(st.integers(-5, 2**40), st.text(max_size=8), st.binary(max_size=40),
                          st.booleans(), st.none()), max_size=12))
def test_hostile_handshake_arrays_raise_only_refusal(items) -> None:
    callee = H.Callee(identity("a"), COOKIE, H.Sessions())
    caller = H.Caller(identity("b"), COOKIE)
    for head in ("hello", "proof", "welcome", "accepted", "refused"):
        data = cbor2.dumps([head, *items])
        for step in (lambda d: callee.on_hello(d, lambda peer: False), callee.on_proof, caller.on_welcome):
            try:
                step(data)
            except H.Refusal:
                pass


def test_cookie_sources_in_order(tmp_path) -> None:
    secret = tmp_path / "c"
    secret.write_text("from-file\n")
    os.chmod(secret, 0o600)
    env = {"VM_COOKIE": "from-env", "HOME": str(tmp_path / "home")}
    assert resolve_cookie("given", str(secret), env) == b"given"
    assert resolve_cookie(None, str(secret), env) == b"from-file"
    assert resolve_cookie(None, None, env) == b"from-env"
    made = resolve_cookie(None, None, {"HOME": str(tmp_path / "home")})
    path = tmp_path / "home" / ".config" / "smalltalk-vm" / "cookie"
    assert path.read_bytes().strip() == made and oct(path.stat().st_mode & 0o777) == "0o600"
    assert resolve_cookie(None, None, {"HOME": str(tmp_path / "home")}) == made


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_cookie_file_others_may_read_is_refused(tmp_path, mode) -> None:
    secret = tmp_path / "c"
    secret.write_text("x\n")
    os.chmod(secret, mode)
    with pytest.raises(CookieError, match="accessible by group or others"):
        resolve_cookie(None, str(secret), {})


def test_missing_and_empty_cookie_files_are_refused(tmp_path) -> None:
    with pytest.raises(CookieError, match="cannot read"):
        resolve_cookie(None, str(tmp_path / "none"), {})
    empty = tmp_path / "e"
    empty.write_text("\n")
    os.chmod(empty, 0o600)
    with pytest.raises(CookieError, match="empty"):
        resolve_cookie(None, str(empty), {})
