"""SQLModel tables and input/output schemas, one module per aggregate."""

from models.access import StaffPassword
from models.case import Case, CaseCreate, CaseEvent, CaseEventPublic
from models.gate import Escalation, Gate, GateGroup, GateSeries, GateToken, GateVote
from models.notification import MailboxMessage, Notification
from models.recall import ProductUnit, RecallNotice, RecallUnit

__all__ = [
    "Case",
    "CaseCreate",
    "CaseEvent",
    "CaseEventPublic",
    "Escalation",
    "Gate",
    "GateGroup",
    "GateSeries",
    "GateToken",
    "GateVote",
    "MailboxMessage",
    "Notification",
    "ProductUnit",
    "RecallNotice",
    "RecallUnit",
    "StaffPassword",
]
