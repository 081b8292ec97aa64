"""Signed incident links and Twilio reply parsing/signatures: plain values, no servers."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from receiver.links import LinkClaim, LinkError, LinkSigner, sign, verify
from receiver.sms_replies import AckCommand, parse_reply, signature, signature_valid, twiml

SECRET = "s" * 40


def test_a_link_round_trips_and_is_short_enough_for_an_sms() -> None:
    token = sign(LinkClaim(12, "alice", 1_900_000_000), SECRET)
    assert verify(token, SECRET, now=1_800_000_000) == LinkClaim(12, "alice", 1_900_000_000)
    assert len(token) <= 48
    url = LinkSigner("https://oncall.example", SECRET, 3600).url_for(12, "alice", 1_800_000_000)
    assert url is not None and url.startswith("https://oncall.example/i/12.alice.")


@pytest.mark.parametrize("change", [
    lambda t: t.replace("12.", "13.", 1),                      # another incident
    lambda t: t.replace(".alice.", ".bob.", 1),                # another person
    lambda t: ".".join([*t.split(".")[:2], "7fffffff", t.split(".")[3]]),  # a later expiry
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # forged tag
])
def test_any_change_to_a_link_is_tampering(change) -> None:  # type: ignore[no-untyped-def]
    token = sign(LinkClaim(12, "alice", 0x7148F000), SECRET)
    changed = change(token)
    assert changed != token
    with pytest.raises(LinkError) as err:
        verify(changed, SECRET, now=0)
    assert err.value.reason == "tampered"


def test_another_secret_expiry_and_garbage_are_refused_with_their_reason() -> None:
    token = sign(LinkClaim(12, "alice", 1000), SECRET)
    with pytest.raises(LinkError, match="tampered"):
        verify(token, "t" * 40, now=0)
    with pytest.raises(LinkError, match="expired"):
        verify(token, SECRET, now=1000)
    for garbage in ("", "12", "x.alice.3e8.abc", "12.al ice.3e8.abc", "12.alice.zz.abc",
                    "12.alice.3e8.!!!", "12.alice.3e8.abc.def"):
        with pytest.raises(LinkError, match=r"malformed|tampered"):
            verify(garbage, SECRET, now=0)


def test_our_signature_matches_twilios_own_validator() -> None:
    url = "https://oncall.example/api/v1/sms/inbound"
    params = {"From": "+447700900001", "Body": "ACK 12", "To": "+15005550006",
              "MessageSid": "SM123", "AccountSid": "ACtest"}
    theirs = RequestValidator("sms-secret").compute_signature(url, params)
    assert signature("sms-secret", url, params.items()) == theirs
    assert signature_valid("sms-secret", url, params.items(), theirs)
    assert not signature_valid("sms-secret", url, {**params, "Body": "ACK 13"}.items(), theirs)
    assert not signature_valid("other", url, params.items(), theirs)
    assert not signature_valid("sms-secret", url, params.items(), None)


@pytest.mark.parametrize(("text", "wanted"), [
    ("ACK 12", AckCommand(12)), ("ack12", AckCommand(12)), (" Ack #7 ", AckCommand(7)),
    ("acknowledge 3.", AckCommand(3)), ("1", AckCommand(None)), ("ACK", AckCommand(None)),
    ("hello", None), ("ACK twelve", None), ("12", None), ("", None), ("ACK 1 2", None),
])
def test_replies_that_acknowledge(text: str, wanted: AckCommand | None) -> None:
    assert parse_reply(text) == wanted


def test_twiml_escapes_the_reply_and_says_nothing_to_strangers() -> None:
    assert twiml(None).endswith("<Response/>")
    assert "<Message>a &lt;b&gt; &amp; c</Message>" in twiml("a <b> & c")
