"""API data models for drafts, messages, replies, lint findings and the sender profile."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints
from sqlmodel import Field, SQLModel

from outreach.compose.lint import Finding

Purpose = Literal["first_message", "follow_up_1", "follow_up_2", "after_support_case", "new_follower"]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=r"^[^\x00\n\r]*$")]


class DraftCreate(SQLModel):
    template: str | None = Field(
        default=None,
        max_length=20_000,
        description=(
            "Jinja template; the built-in template for the lead's situation if omitted. Fields: name (the greeting: "
            "first name, or 'there'), display_name, point (the point they raised, one clean clause), competitor, "
            "recent_content, audience, topics, offer (the watch's), product, company, value_proposition, intro "
            "('I work on <product> at <company>', empty when the profile names neither), rep_name, signature, "
            "platform_label, mention_excerpt. It renders sandboxed in a worker process within 1 s and a memory cap; "
            "include, extends, import, from and self are refused, and so is any error (422 naming the line or the "
            "limit)."
        ),
    )
    purpose: Purpose = Field(
        default="first_message",
        description="What only you know: a follow-up of a sequence, after a support case, or a new follower. A "
        "first message's situation is read from the mention, its score reasons and the influencer score.",
    )
    variant: str | None = Field(
        default=None, max_length=40, description="Pin a variant of the built-in template (e.g. 'a'); else drawn."
    )


class MarkSent(SQLModel):
    external_id: str | None = Field(default=None, max_length=200)


class ReplyCreate(SQLModel):
    body: str = Field(min_length=1, max_length=20_000)
    external_id: str | None = Field(default=None, max_length=200)


class MessagePublic(SQLModel):
    id: int
    conversation_id: int
    lead_id: int
    direction: str
    channel: str
    platform: str
    status: str
    body: str
    external_id: str | None
    classification: str | None
    template: str | None = None
    situation: str | None = None
    variant: str | None = None
    created_at: datetime
    sent_at: datetime | None
    received_at: datetime | None


class MessagePage(SQLModel):
    items: list[MessagePublic]
    next_cursor: str | None = None


class FindingPublic(SQLModel):
    code: str
    severity: str = Field(description="block (stops approval), warn or info")
    message: str
    suggestion: str
    span: list[int] | None = Field(default=None, description="[start, end) character offsets, when about one place")

    @classmethod
    def of(cls, finding: Finding) -> FindingPublic:
        return cls(
            code=finding.code,
            severity=finding.severity,
            message=finding.message,
            suggestion=finding.suggestion,
            span=list(finding.span) if finding.span else None,
        )


class DraftPublic(MessagePublic):
    """A new draft: the message, why its template was chosen, and what the linter found."""

    cue: str = Field(description="Why this situation, in plain words")
    cue_sentence: str = Field(description="The sentence of the mention that decided it, when the text did")
    findings: list[FindingPublic]
    blocked: bool = Field(description="True when a finding stops approval")


class LintRequest(SQLModel):
    text: str = Field(max_length=20_000, description="The text to check as the message's next version")


class LintPublic(SQLModel):
    findings: list[FindingPublic]
    blocked: bool


class SenderProfilePublic(SQLModel):
    company: str
    product: str
    value_proposition: str
    website: str
    version: int = Field(description="0 until someone saves it (the deployment's settings stand in)")
    updated_at: datetime | None = None


class SenderProfileUpdate(SQLModel):
    """PUT body: the fields sent replace the stored ones; the others stay."""

    company: Line | None = None
    product: Line | None = None
    value_proposition: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=300, pattern=r"^[^\x00\n\r]*$")] | None
    ) = Field(
        default=None,
        description="One line: what the product is, e.g. 'a CRM small teams set up "
        "in an afternoon' (drafts say 'I work on <product>, <value proposition>')",
    )
    website: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^(https?://\S+)?$")] | None
    ) = Field(default=None, description="Never put in a first message; for later steps and the settings page")


class SignaturePublic(SQLModel):
    user_id: int
    display_name: str
    signature: str
    version: int


class SignatureUpdate(SQLModel):
    display_name: Line | None = None
    signature: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] | None = Field(
        default=None, description="Ends every built-in draft on a line of its own (else your display name)"
    )
