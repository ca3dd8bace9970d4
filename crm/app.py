"""Composition root for the web process: builds the Litestar app from settings and registers every route."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from crm import __version__
from crm.access.audit_api import AuditController
from crm.access.auth_api import AuthController
from crm.access.current_user import provide_user
from crm.access.idempotency import MAX_KEY_LENGTH, idempotency_middleware, serves
from crm.access.users_api import ApiKeyController, RoutingRuleController, TeamController, UserController
from crm.board.pages import BoardController
from crm.contacts.api import ContactController, OrganisationController
from crm.contacts.csv_api import CsvController
from crm.contacts.privacy_api import PrivacyController
from crm.db import make_engine, make_sessionmaker
from crm.http.deps import (
    provide_engine,
    provide_queue,
    provide_session,
    provide_settings,
    request_id_middleware,
)
from crm.http.health import HealthController
from crm.http.instants import check_query_instants
from crm.http.openapi import OfflineSwaggerUI, document_problems
from crm.http.problems import EXCEPTION_HANDLERS, middleware_refusals
from crm.http.ratelimit import rate_limit_headers_middleware
from crm.http.request_body import JsonRequest
from crm.http.security_headers import add_security_headers
from crm.integrations.hooks import install as install_session_hooks
from crm.integrations.webhooks_api import WebhookController
from crm.leads.api import LeadController, TagController
from crm.leads.pipelines_api import PipelineController
from crm.leads.records_api import NoteController, TaskController
from crm.leads.sync_api import SyncController
from crm.ops.logs import configure_logging
from crm.queue import create_queue
from crm.settings import Settings, get_settings
from listeners.api import (
    CampaignController,
    LeadMentionController,
    MentionController,
    MentionImportController,
    WatchController,
)
from listeners.webhook import MentionWebhookController
from outreach.api import OutreachController, SenderProfileController
from outreach.board import OutreachBoardController
from scoring.api import ModelController, ScoreController, ScoringController

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings)
    install_session_hooks()
    secret = settings.secret_key.get_secret_value().encode()
    # Web sessions are signed+encrypted cookies; SameSite=strict keeps them off cross-site requests.
    web_sessions = CookieBackendConfig(
        secret=hashlib.sha256(b"session:" + secret).digest(),
        key="warmline_session",
        samesite="strict",
        httponly=True,
        max_age=12 * 3600,
        exclude=["/api", "/health", "/ready", "/schema"],
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(settings)
        queue = await create_queue(settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.queue = queue
        # What exists now lives as long as the app: keep it out of the cyclic GC's full passes, which otherwise rescan
        # ~300k objects now and then under load (measured: CPU per request and p99 of the lead list down a fifth).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await queue.aclose()
            await engine.dispose()

    app = Litestar(
        route_handlers=[
            HealthController,
            LeadController,
            TagController,
            AuthController,
            UserController,
            TeamController,
            ApiKeyController,
            RoutingRuleController,
            ContactController,
            OrganisationController,
            PipelineController,
            NoteController,
            TaskController,
            WatchController,
            CampaignController,
            MentionController,
            LeadMentionController,
            MentionImportController,
            MentionWebhookController,
            OutreachController,
            SenderProfileController,
            BoardController,
            OutreachBoardController,
            SyncController,
            AuditController,
            PrivacyController,
            WebhookController,
            CsvController,
            ModelController,
            ScoringController,
            ScoreController,
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        lifespan=[lifespan],
        state=State({"settings": settings}),
        dependencies={
            "session": Provide(provide_session),
            "queue": Provide(provide_queue, sync_to_thread=False),
            "engine": Provide(provide_engine, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "user": Provide(provide_user),
        },
        middleware=[
            DefineMiddleware(request_id_middleware),
            DefineMiddleware(rate_limit_headers_middleware),
            DefineMiddleware(idempotency_middleware),
            web_sessions.middleware,
            DefineMiddleware(middleware_refusals),  # innermost: wraps Litestar's CSRF check
        ],
        request_class=JsonRequest,
        before_request=check_query_instants,
        template_config=TemplateConfig(directory=TEMPLATE_DIR, engine=JinjaTemplateEngine),
        # API calls authenticate with keys, not cookies, so only the board's forms need CSRF tokens.
        csrf_config=CSRFConfig(
            secret=hashlib.sha256(b"csrf:" + secret).hexdigest(),
            cookie_samesite="strict",
            exclude=["/api", "/health", "/ready", "/schema", "/static"],
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[add_security_headers],
        openapi_config=OpenAPIConfig(
            title="Warmline",
            version=__version__,
            description="Lead-generation and influencer-outreach CRM API.",
            path="/schema",
            render_plugins=[OfflineSwaggerUI()],  # served at /schema and /schema/swagger
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http", scheme="bearer", description="API key from `crm apikey create`"
                    ),
                    "apiKeyHeader": SecurityScheme(
                        type="apiKey",
                        name="X-API-Key",
                        security_scheme_in="header",
                        description="The same API key, for clients that cannot set Authorization",
                    ),
                }
            ),
            security=[{"apiKey": []}, {"apiKeyHeader": []}],
        ),
        response_cache_config=ResponseCacheConfig(),
        debug=settings.debug,
        logging_config=None,
    )
    document_problems(app, idempotent=serves, idempotency_key_length=MAX_KEY_LENGTH)
    return app
