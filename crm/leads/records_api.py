"""Notes and tasks on leads (`/api/v1/leads/{id}/notes|tasks`, `/api/v1/notes`, `/api/v1/tasks`): access follows
the lead's policy; updates take If-Match; deletes are soft."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access.policy import lead_scope, note_writable, readable_lead, require_lead_write, task_writable, writable_lead
from crm.errors import InvalidInput, NotFound, PermissionDenied
from crm.http.deps import CurrentUser, DbSession
from crm.http.etags import check_if_match, etag, soft_delete, touch
from crm.http.paging import keyset, page_of, parse_sort
from crm.leads.api import ETAG_HEADER, IfMatch
from crm.models import Lead, Note, Task, User, utcnow
from crm.schemas import (
    NoteCreate,
    NotePublic,
    NoteUpdate,
    PathId,
    QueryId,
    TaskCreate,
    TaskPage,
    TaskPublic,
    TaskUpdate,
)

TASK_SORTS = {"due_at": ("datetime", True), "updated_at": ("datetime", False), "id": ("int", False)}


async def _note(session: AsyncSession, user: User, note_id: int) -> tuple[Note, Lead]:
    note = await session.get(Note, note_id)
    if note is None or note.deleted_at is not None:
        raise NotFound(f"note {note_id} does not exist")
    try:
        lead = await readable_lead(session, user, note.lead_id)
    except NotFound:
        raise NotFound(f"note {note_id} does not exist") from None
    return note, lead


async def _task(session: AsyncSession, user: User, task_id: int) -> tuple[Task, Lead]:
    task = await session.get(Task, task_id)
    if task is None or task.deleted_at is not None:
        raise NotFound(f"task {task_id} does not exist")
    try:
        lead = await readable_lead(session, user, task.lead_id)
    except NotFound:
        raise NotFound(f"task {task_id} does not exist") from None
    return task, lead


async def _check_assignee(session: AsyncSession, user_id: int | None) -> None:
    if user_id is not None:
        assignee = await session.get(User, user_id)
        if assignee is None or not assignee.is_active:
            raise InvalidInput(f"user {user_id} does not exist")


def _note_response(note: Note, status_code: int = 200) -> Response[NotePublic]:
    return Response(NotePublic.model_validate(note), status_code=status_code, headers={"ETag": etag("note", note)})


def _task_response(task: Task, status_code: int = 200) -> Response[TaskPublic]:
    return Response(TaskPublic.model_validate(task), status_code=status_code, headers={"ETag": etag("task", task)})


class NoteController(Controller):
    path = "/api/v1"
    tags = ["notes"]

    @get("/leads/{lead_id:int}/notes", summary="A lead's notes, newest first")
    async def lead_notes(self, session: DbSession, user: CurrentUser, lead_id: PathId) -> list[NotePublic]:
        await readable_lead(session, user, lead_id)
        rows = await session.exec(
            select(Note)
            .where(Note.lead_id == lead_id, col(Note.deleted_at).is_(None))
            .order_by(col(Note.created_at).desc(), col(Note.id).desc())
        )
        return [NotePublic.model_validate(n) for n in rows]

    @post("/leads/{lead_id:int}/notes", summary="Add a note to a lead", response_headers=ETAG_HEADER)
    async def add_note(
        self, session: DbSession, user: CurrentUser, lead_id: PathId, data: JSONBody[NoteCreate]
    ) -> Response[NotePublic]:
        lead = await writable_lead(session, user, lead_id)
        note = Note(lead_id=lead_id, author_user_id=user.id, body=data.body)
        lead.last_activity_at = utcnow()
        session.add_all([note, lead])
        await session.flush()
        return _note_response(note, 201)

    @get("/notes/{note_id:int}", summary="One note", response_headers=ETAG_HEADER)
    async def get_note(self, session: DbSession, user: CurrentUser, note_id: PathId) -> Response[NotePublic]:
        note, _ = await _note(session, user, note_id)
        return _note_response(note)

    @patch("/notes/{note_id:int}", summary="Edit a note (its author or an admin)", response_headers=ETAG_HEADER)
    async def edit_note(
        self,
        session: DbSession,
        user: CurrentUser,
        note_id: PathId,
        data: JSONBody[NoteUpdate],
        if_match: IfMatch = None,
    ) -> Response[NotePublic]:
        note, lead = await _note(session, user, note_id)
        if not note_writable(user, lead, note):
            raise PermissionDenied(f"you may read note {note_id} but not change it")
        check_if_match(if_match, "note", note)
        note.body = data.body
        touch(note)
        session.add(note)
        await session.flush()
        return _note_response(note)

    @delete("/notes/{note_id:int}", summary="Delete a note (soft)", status_code=204)
    async def delete_note(
        self, session: DbSession, user: CurrentUser, note_id: PathId, if_match: IfMatch = None
    ) -> None:
        note, lead = await _note(session, user, note_id)
        if not note_writable(user, lead, note):
            raise PermissionDenied(f"you may read note {note_id} but not change it")
        check_if_match(if_match, "note", note)
        soft_delete(note)
        session.add(note)


class TaskController(Controller):
    path = "/api/v1"
    tags = ["tasks"]

    @get("/leads/{lead_id:int}/tasks", summary="A lead's tasks, soonest due first")
    async def lead_tasks(self, session: DbSession, user: CurrentUser, lead_id: PathId) -> list[TaskPublic]:
        await readable_lead(session, user, lead_id)
        rows = await session.exec(
            select(Task)
            .where(Task.lead_id == lead_id, col(Task.deleted_at).is_(None))
            .order_by(col(Task.due_at).is_(None), col(Task.due_at), col(Task.id))
        )
        return [TaskPublic.model_validate(t) for t in rows]

    @post("/leads/{lead_id:int}/tasks", summary="Add a task to a lead", response_headers=ETAG_HEADER)
    async def add_task(
        self, session: DbSession, user: CurrentUser, lead_id: PathId, data: JSONBody[TaskCreate]
    ) -> Response[TaskPublic]:
        await writable_lead(session, user, lead_id)
        await _check_assignee(session, data.assignee_user_id)
        task = Task(
            lead_id=lead_id,
            title=data.title,
            description=data.description,
            due_at=data.due_at,
            assignee_user_id=data.assignee_user_id if data.assignee_user_id is not None else user.id,
            created_by_user_id=user.id,
        )
        session.add(task)
        await session.flush()
        return _task_response(task, 201)

    @get("/tasks", summary="Tasks on leads you can see (filter by assignee, open, due before), keyset-paged")
    async def list_tasks(
        self,
        session: DbSession,
        user: CurrentUser,
        assignee_user_id: QueryId = None,
        mine: FromQuery[bool] = False,
        open_only: Annotated[bool, QueryParameter(name="open")] = False,
        due_before: FromQuery[datetime | None] = None,
        sort: FromQuery[Literal["due_at", "-due_at", "updated_at", "-updated_at", "id", "-id"]] = "due_at",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
    ) -> TaskPage:
        query = (
            select(Task)
            .join(Lead, col(Lead.id) == col(Task.lead_id))
            .where(col(Task.deleted_at).is_(None), col(Lead.deleted_at).is_(None), lead_scope(user))
        )
        if mine:
            query = query.where(Task.assignee_user_id == user.id)
        if assignee_user_id is not None:
            query = query.where(Task.assignee_user_id == assignee_user_id)
        if open_only:
            query = query.where(col(Task.done_at).is_(None))
        if due_before is not None:
            if due_before.tzinfo is None:
                raise InvalidInput("due_before needs a time zone (e.g. 2026-01-01T00:00:00Z)")
            query = query.where(col(Task.due_at) < due_before)
        key = parse_sort(sort, TASK_SORTS)  # type: ignore[arg-type]
        tasks, next_cursor = page_of(list(await session.exec(keyset(query, Task, key, cursor, limit))), key, limit)
        return TaskPage(items=[TaskPublic.model_validate(t) for t in tasks], next_cursor=next_cursor)

    @get("/tasks/{task_id:int}", summary="One task", response_headers=ETAG_HEADER)
    async def get_task(self, session: DbSession, user: CurrentUser, task_id: PathId) -> Response[TaskPublic]:
        task, _ = await _task(session, user, task_id)
        return _task_response(task)

    @patch("/tasks/{task_id:int}", summary="Change a task or mark it done", response_headers=ETAG_HEADER)
    async def edit_task(
        self,
        session: DbSession,
        user: CurrentUser,
        task_id: PathId,
        data: JSONBody[TaskUpdate],
        if_match: IfMatch = None,
    ) -> Response[TaskPublic]:
        task, lead = await _task(session, user, task_id)
        if not task_writable(user, lead, task):
            raise PermissionDenied(f"you may read task {task_id} but not change it")
        check_if_match(if_match, "task", task)
        changes = data.model_dump(exclude_unset=True)
        if "assignee_user_id" in changes:
            await _check_assignee(session, changes["assignee_user_id"])
            task.assignee_user_id = changes["assignee_user_id"]
        for name in ("title", "description"):
            if changes.get(name) is not None:
                setattr(task, name, changes[name])
        if "due_at" in changes:
            task.due_at = changes["due_at"]
        if changes.get("done") is not None:
            task.done_at = (task.done_at or utcnow()) if changes["done"] else None
        touch(task)
        session.add(task)
        await session.flush()
        return _task_response(task)

    @delete("/tasks/{task_id:int}", summary="Delete a task (soft)", status_code=204)
    async def delete_task(
        self, session: DbSession, user: CurrentUser, task_id: PathId, if_match: IfMatch = None
    ) -> None:
        task, lead = await _task(session, user, task_id)
        require_lead_write(user, lead)
        check_if_match(if_match, "task", task)
        soft_delete(task)
        session.add(task)
