"""The SMTP sink (lives in demo.sinks so the demo can run it too)."""

from demo.sinks import SmtpSink

__all__ = ["SmtpSink"]
