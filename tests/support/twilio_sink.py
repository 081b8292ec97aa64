"""The Twilio-shaped SMS sink (lives in demo.sinks so the demo can run it too)."""

from demo.sinks import SmsRequest, TwilioSink

__all__ = ["SmsRequest", "TwilioSink"]
