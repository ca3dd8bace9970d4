"""Access management routes: users and roles, teams, API keys (shown once, revocable) and lead routing rules.

Admins manage everyone; every caller reads the directory, sees their own profile and manages their own keys.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, QueryParameter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import audit
from crm.access.auth import create_api_key, create_user, hash_password
from crm.access.policy import is_admin, require_admin
from crm.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crm.http.deps import AppSettings, CurrentUser, DbSession
from crm.models import ApiKey, Role, RoutingRule, Team, User, Watch, utcnow
from crm.schemas import (
    MAX_ID,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    PathId,
    RoutingRuleCreate,
    RoutingRulePublic,
    TeamCreate,
    TeamPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)


async def _user_or_404(session: AsyncSession, user_id: int) -> User:
    found = await session.get(User, user_id)
    if found is None:
        raise NotFound(f"user {user_id} does not exist")
    return found


async def _check_team(session: AsyncSession, team_id: int | None) -> None:
    if team_id is not None and await session.get(Team, team_id) is None:
        raise InvalidInput(f"team {team_id} does not exist")


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @get("/me", summary="The caller")
    async def me(self, user: CurrentUser) -> UserPublic:
        return UserPublic.model_validate(user)

    @get("/", summary="The user directory")
    async def list_users(self, session: DbSession, user: CurrentUser) -> list[UserPublic]:
        return [UserPublic.model_validate(u) for u in await session.exec(select(User).order_by(col(User.id)))]

    @get("/{user_id:int}", summary="One user")
    async def get_user(self, session: DbSession, user: CurrentUser, user_id: PathId) -> UserPublic:
        return UserPublic.model_validate(await _user_or_404(session, user_id))

    @post("/", summary="Create a user (admin)")
    async def create(self, session: DbSession, user: CurrentUser, data: JSONBody[UserCreate]) -> UserPublic:
        require_admin(user, "users")
        await _check_team(session, data.team_id)
        email = data.email.strip().lower()
        if (await session.exec(select(User.id).where(User.email == email))).first() is not None:
            raise Conflict(f"a user with email {email!r} exists")
        created = await create_user(
            session, email, role=Role(data.role), name=data.name, password=data.password, team_id=data.team_id
        )
        audit.record(
            session,
            "user.created",
            actor=user.email,
            actor_user_id=user.id,
            object_type="user",
            object_id=created.id,
            detail={"role": created.role, "team_id": created.team_id},
        )
        return UserPublic.model_validate(created)

    @patch("/{user_id:int}", summary="Change a user's name, role, team, password or active flag (admin)")
    async def update(
        self, session: DbSession, user: CurrentUser, user_id: PathId, data: JSONBody[UserUpdate]
    ) -> UserPublic:
        target = await _user_or_404(session, user_id)
        changes = data.model_dump(exclude_unset=True)
        own_profile = target.id == user.id and set(changes) <= {"name", "password"}
        if not own_profile:
            require_admin(user, "other users, roles or teams")
        if target.id == user.id and (changes.get("is_active") is False or changes.get("role") not in (None, user.role)):
            raise Conflict("you cannot deactivate yourself or change your own role")
        if "team_id" in changes:
            await _check_team(session, changes["team_id"])
        before = {"role": target.role, "team_id": target.team_id, "is_active": target.is_active}
        for name in ("name", "role", "team_id", "is_active"):
            if name in changes and (changes[name] is not None or name == "team_id"):
                setattr(target, name, changes[name])
        if changes.get("password"):
            target.password_hash = hash_password(changes["password"])
        session.add(target)
        audit.record(
            session,
            "user.updated",
            actor=user.email,
            actor_user_id=user.id,
            object_type="user",
            object_id=target.id,
            detail={
                "before": before,
                "after": {"role": target.role, "team_id": target.team_id, "is_active": target.is_active},
                "password_changed": bool(changes.get("password")),
            },
        )
        await session.flush()
        return UserPublic.model_validate(target)

    @delete("/{user_id:int}", summary="Deactivate a user (admin); their keys stop working", status_code=204)
    async def deactivate(self, session: DbSession, user: CurrentUser, user_id: PathId) -> None:
        require_admin(user, "users")
        target = await _user_or_404(session, user_id)
        if target.id == user.id:
            raise Conflict("you cannot deactivate yourself")
        target.is_active = False
        session.add(target)
        audit.record(
            session, "user.deactivated", actor=user.email, actor_user_id=user.id, object_type="user", object_id=user_id
        )


class TeamController(Controller):
    path = "/api/v1/teams"
    tags = ["users"]

    @get("/", summary="Teams")
    async def list_teams(self, session: DbSession, user: CurrentUser) -> list[TeamPublic]:
        return [TeamPublic.model_validate(t) for t in await session.exec(select(Team).order_by(col(Team.id)))]

    @post("/", summary="Create a team (admin)")
    async def create(self, session: DbSession, user: CurrentUser, data: JSONBody[TeamCreate]) -> TeamPublic:
        require_admin(user, "teams")
        if (await session.exec(select(Team.id).where(Team.name == data.name))).first() is not None:
            raise Conflict(f"a team named {data.name!r} exists")
        team = Team(name=data.name)
        session.add(team)
        await session.flush()
        audit.record(
            session, "team.created", actor=user.email, actor_user_id=user.id, object_type="team", object_id=team.id
        )
        return TeamPublic.model_validate(team)

    @get("/{team_id:int}", summary="One team")
    async def get_team(self, session: DbSession, user: CurrentUser, team_id: PathId) -> TeamPublic:
        team = await session.get(Team, team_id)
        if team is None:
            raise NotFound(f"team {team_id} does not exist")
        return TeamPublic.model_validate(team)


async def _key_or_404(session: AsyncSession, user: User, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    # Another user's key is invisible to non-admins: 404, so key ids reveal nothing.
    if key is None or (key.user_id != user.id and not is_admin(user)):
        raise NotFound(f"API key {key_id} does not exist")
    return key


class ApiKeyController(Controller):
    path = "/api/v1/api-keys"
    tags = ["users"]

    @get("/", summary="API keys: your own, or (admins) everyone's or one user's")
    async def list_keys(
        self,
        session: DbSession,
        user: CurrentUser,
        user_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="Admins: only this user's keys")
        ] = None,
    ) -> list[ApiKeyPublic]:
        query = select(ApiKey).order_by(col(ApiKey.id))
        if not is_admin(user):
            if user_id is not None and user_id != user.id:
                raise PermissionDenied("only admins may list other users' keys")
            query = query.where(ApiKey.user_id == user.id)
        elif user_id is not None:
            query = query.where(ApiKey.user_id == user_id)
        return [ApiKeyPublic.model_validate(k) for k in await session.exec(query)]

    @post("/", summary="Create an API key; the key is in this response only")
    async def create(
        self, session: DbSession, settings: AppSettings, user: CurrentUser, data: JSONBody[ApiKeyCreate]
    ) -> ApiKeyCreated:
        owner = user
        if data.user_id is not None and data.user_id != user.id:
            require_admin(user, "other users' keys")
            owner = await _user_or_404(session, data.user_id)
            if not owner.is_active:
                raise Conflict(f"user {owner.id} is deactivated")
        created = await create_api_key(
            session,
            settings,
            owner,
            data.name,
            scopes=sorted(set(data.scopes)),
            rate_limit_per_minute=data.rate_limit_per_minute,
        )
        audit.record(
            session,
            "api_key.created",
            actor=user.email,
            actor_user_id=user.id,
            object_type="api_key",
            object_id=created.row.id,
            detail={"user_id": owner.id, "scopes": created.row.scopes},
        )
        return ApiKeyCreated.model_validate(created.row, update={"key": created.plaintext})

    @get("/{key_id:int}", summary="One API key (never the key itself)")
    async def get_key(self, session: DbSession, user: CurrentUser, key_id: PathId) -> ApiKeyPublic:
        return ApiKeyPublic.model_validate(await _key_or_404(session, user, key_id))

    @delete("/{key_id:int}", summary="Revoke an API key", status_code=204)
    async def revoke(self, session: DbSession, user: CurrentUser, key_id: PathId) -> None:
        key = await _key_or_404(session, user, key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            session.add(key)
            audit.record(
                session,
                "api_key.revoked",
                actor=user.email,
                actor_user_id=user.id,
                object_type="api_key",
                object_id=key_id,
            )


class RoutingRuleController(Controller):
    path = "/api/v1/routing-rules"
    tags = ["users"]

    @get("/", summary="Lead routing rules, in the order they are tried (admin)")
    async def list_rules(self, session: DbSession, user: CurrentUser) -> list[RoutingRulePublic]:
        require_admin(user, "routing")
        rows = await session.exec(select(RoutingRule).order_by(col(RoutingRule.position), col(RoutingRule.id)))
        return [RoutingRulePublic.model_validate(r) for r in rows]

    @post("/", summary="Add a routing rule (admin)")
    async def create(
        self, session: DbSession, user: CurrentUser, data: JSONBody[RoutingRuleCreate]
    ) -> RoutingRulePublic:
        require_admin(user, "routing")
        if data.user_id is not None:
            await _user_or_404(session, data.user_id)
        await _check_team(session, data.team_id)
        if data.watch_id is not None and await session.get(Watch, data.watch_id) is None:
            raise InvalidInput(f"watch {data.watch_id} does not exist")
        rule = RoutingRule.model_validate(data)
        session.add(rule)
        await session.flush()
        audit.record(
            session,
            "routing_rule.created",
            actor=user.email,
            actor_user_id=user.id,
            object_type="routing_rule",
            object_id=rule.id,
        )
        return RoutingRulePublic.model_validate(rule)

    @delete("/{rule_id:int}", summary="Remove a routing rule (admin)", status_code=204)
    async def remove(self, session: DbSession, user: CurrentUser, rule_id: PathId) -> None:
        require_admin(user, "routing")
        rule = await session.get(RoutingRule, rule_id)
        if rule is None:
            raise NotFound(f"routing rule {rule_id} does not exist")
        await session.delete(rule)
        audit.record(
            session,
            "routing_rule.deleted",
            actor=user.email,
            actor_user_id=user.id,
            object_type="routing_rule",
            object_id=rule_id,
        )
