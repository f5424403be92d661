"""SMSC.ru ("СМС-центр"): SMS and e-mail reminders and their delivery statuses (wire format in
``ident_hooks/smsc.py``; reference external-apis.md §4). The reminders need no mapping of the
service's records: the sources say how each capability's messages travel."""

from __future__ import annotations

from ident_integrations.capabilities.reminders import EMAIL_CHANNEL, SMS_CHANNEL
from ident_integrations.services import Service

SMSC = Service(
    name="smsc",
    conn_type="ident_smsc",
    hook_path="ident_hooks.smsc:SmscHook",
    sources={"sms": SMS_CHANNEL, "email": EMAIL_CHANNEL, "sms_status": "status.php"},
)
