"""Message texts: Jinja2 templates (packaged defaults, overridable in the policy's ``templates``).

Rendered in a sandbox when a message is enqueued, so the outbox holds the exact
text that will be sent. Vendor templates get only vendor-safe fields: the alert's
``customer_message`` annotation and their own ceremony time, never alert names,
hosts or labels.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

DEFAULTS: dict[str, str] = {
    "page_sms": (
        "[{{ level|upper }}]{% if wedding_day %} WEDDING DAY{% endif %} "
        "{% if alert_count > 1 %}{{ alert_count }} alerts, worst: {% endif %}{{ alertname }}: "
        "{{ summary|truncate(80) }} (incident {{ incident_id }}, tier {{ tier }})."
        "{% if ack_url %} {{ ack_url }}{% endif %}"
        "{% if reply_ack %} Reply ACK {{ incident_id }} to acknowledge."
        "{% elif not ack_url %} Ack: POST /api/v1/incidents/{{ incident_id }}/ack{% endif %}"
    ),
    "page_email_subject": (
        "[{{ level|upper }}]{% if wedding_day %}[WEDDING DAY]{% endif %} {{ alertname }}"
        "{% if alert_count > 1 %} and {{ alert_count - 1 }} more{% endif %} "
        "(incident {{ incident_id }})"
    ),
    "page_email_body": (
        "{{ alertname }} is firing (severity {{ severity }}, level {{ level }}, "
        "tier {{ tier }}: {{ tier_name }}).\n\n{{ summary }}\n\n{{ description }}\n\n"
        "Started: {{ starts_at }}\n"
        "{% if runbook_url %}Runbook: {{ runbook_url }}\n{% endif %}"
        "{% if alert_count > 1 %}\nAll {{ alert_count }} alerts in this incident:\n"
        "{% for a in alerts %}- [{{ a.severity }}] {{ a.alertname }}: {{ a.summary }}\n"
        "{% endfor %}{% if more %}- … and {{ more }} more\n{% endif %}{% endif %}"
        "{% if ack_url %}\nSee the incident and acknowledge it to stop escalation: {{ ack_url }}\n"
        "{% else %}\nAcknowledge to stop escalation: POST /api/v1/incidents/{{ incident_id }}/ack\n"
        "{% endif %}"
    ),
    "resolved_sms": "[RESOLVED] {{ alertname }} (incident {{ incident_id }}) has recovered.",
    "resolved_email_subject": "[RESOLVED] {{ alertname }} (incident {{ incident_id }})",
    "resolved_email_body": (
        "{{ alertname }} has resolved (incident {{ incident_id }}).\n\n"
        "Started: {{ starts_at }}\nResolved: {{ ends_at }}\n"
    ),
    "vendor_sms": (
        "WedSync: we are having technical problems that may affect the platform today. "
        "{{ customer_message }} Your {{ ceremony_time }} wedding can go ahead as planned: "
        "please work from your own copies of timings and contacts. We will text when it is fixed."
    ),
    "vendor_resolved_sms": (
        "WedSync: the technical problems we told you about earlier are fixed and the platform "
        "is working normally again. Thank you for your patience."
    ),
    "vendor_resolved_email_subject": "WedSync is working normally again",
    "vendor_resolved_email_body": (
        "Hello,\n\nThe technical problems we told you about earlier today are fixed and "
        "WedSync is working normally again. Thank you for your patience.\n\nThe WedSync team\n"
    ),
    "vendor_email_subject": "WedSync service disruption today",
    "vendor_email_body": (
        "Hello {{ vendor_name }},\n\n"
        "WedSync is having technical problems that may affect the platform today. "
        "{{ customer_message }}\n\n"
        "Your wedding with a ceremony at {{ ceremony_time }} can go ahead as planned: "
        "please work from your own copies of timings, guest numbers and contacts until we "
        "confirm the service is back.\n\nThe WedSync team\n"
    ),
    "couple_sms": (
        "WedSync: we are having technical problems today. {{ customer_message }} Your "
        "suppliers have been told and your wedding goes ahead as planned. We will text you "
        "when it is fixed."
    ),
    "couple_email_subject": "WedSync: a technical problem today",
    "couple_email_body": (
        "Hello {{ couple_names }},\n\nWedSync is having technical problems today. "
        "{{ customer_message }}\n\nYour suppliers have been told, and your wedding "
        "{% if ceremony_time != 'today' %}at {{ ceremony_time }} {% endif %}goes ahead as "
        "planned. We will write again when it is fixed.\n\nThe WedSync team\n"
    ),
    "couple_resolved_sms": (
        "WedSync: the technical problems are fixed and everything works normally again. "
        "Have a wonderful day!"
    ),
    "couple_resolved_email_subject": "WedSync is working normally again",
    "couple_resolved_email_body": (
        "Hello,\n\nThe technical problems we told you about earlier are fixed and WedSync "
        "works normally again.\n\nHave a wonderful day!\nThe WedSync team\n"
    ),
    # The external status page (a Statuspage-style component update); customer words only.
    "status_webhook": (
        '{"component": {"status": {{ component_status|tojson }}, '
        '"description": {{ message|tojson }}}, "incident_id": {{ incident_id }}}'
    ),
}
TEMPLATE_NAMES = tuple(DEFAULTS)
log = logging.getLogger(__name__)
GENERIC_CUSTOMER_MESSAGE = "Our engineers are already working on it."


class Templates:
    """Compiled templates; construction raises ``ValueError`` naming each broken one."""

    def __init__(self, overrides: Mapping[str, str]):
        self._env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
        problems = []
        self._compiled = {}
        self._defaults = {name: self._env.from_string(source) for name, source in DEFAULTS.items()}
        for name, source in overrides.items():
            try:
                self._compiled[name] = self._env.from_string(source)
            except TemplateSyntaxError as exc:
                problems.append(f"templates.{name}: {exc.message} (line {exc.lineno})")
        if problems:
            raise ValueError("; ".join(problems))

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render ``name``; an override that fails at render time falls back to the default.

        A page must not be lost to a template that divides by zero or trips the
        sandbox: the failure is logged (template name and error type only) and the
        packaged text is sent instead.
        """
        override = self._compiled.get(name)
        if override is not None:
            try:
                return override.render(**context).strip()
            except Exception as exc:  # any error inside a user template
                log.error("template %s failed (%s); the default text is used", name,
                          type(exc).__name__)
        return self._defaults[name].render(**context).strip()

    def render_json(self, name: str, context: Mapping[str, Any]) -> str:
        """Render a template that must produce a JSON document; an override that does not
        falls back to the default (logged), as a failing one does."""
        text = self.render(name, context)
        try:
            json.loads(text)
        except ValueError:
            log.error("template %s did not render JSON; the default text is used", name)
            text = self._defaults[name].render(**context).strip()
        return text
