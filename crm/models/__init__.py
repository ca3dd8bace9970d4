"""The whole schema, from mention to reply: every table Warmline stores, in one metadata for Alembic.

Rows are plain SQLModel tables, one module per noun; behaviour lives in the modules named after what they do
(`crm.pipeline` moves stages, `listeners.store` saves mentions, ...). Importing this package registers every table
on `SQLModel.metadata`, and every name is re-exported here, so code imports `from crm.models import Lead`.
"""

from crm.models.access import ApiKey, AuditEvent, IdempotencyRecord, Team, User
from crm.models.base import (
    NAMING_CONVENTION,
    Channel,
    Direction,
    JSONType,
    MessageStatus,
    ModelStatus,
    Role,
    UTCDateTime,
    json_field,
    ts_field,
    utcnow,
)
from crm.models.contacts import (
    AccountSnapshot,
    ConsentRecord,
    Contact,
    ContactMerge,
    Organisation,
    PlatformAccount,
    Suppression,
)
from crm.models.integrations import ChangeLog, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from crm.models.leads import Lead, LeadTag, Note, Pipeline, RoutingRule, Stage, StageChange, Tag, Task, lead_list_index
from crm.models.listening import ListenerCursor, Mention, MentionMatch, QuarantinedPayload, Watch
from crm.models.outreach import Conversation, Message
from crm.models.scoring import LeadScore, ModelVersion
from crm.models.sender import SENDER_PROFILE_ID, SenderProfile, SenderSignature

__all__ = [
    "NAMING_CONVENTION",
    "SENDER_PROFILE_ID",
    "AccountSnapshot",
    "ApiKey",
    "AuditEvent",
    "ChangeLog",
    "Channel",
    "ConsentRecord",
    "Contact",
    "ContactMerge",
    "Conversation",
    "Direction",
    "IdempotencyRecord",
    "JSONType",
    "Lead",
    "LeadScore",
    "LeadTag",
    "ListenerCursor",
    "Mention",
    "MentionMatch",
    "Message",
    "MessageStatus",
    "ModelStatus",
    "ModelVersion",
    "Note",
    "Organisation",
    "Pipeline",
    "PlatformAccount",
    "QuarantinedPayload",
    "Role",
    "RoutingRule",
    "SenderProfile",
    "SenderSignature",
    "Stage",
    "StageChange",
    "Suppression",
    "Tag",
    "Task",
    "Team",
    "UTCDateTime",
    "User",
    "Watch",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
    "json_field",
    "lead_list_index",
    "ts_field",
    "utcnow",
]
