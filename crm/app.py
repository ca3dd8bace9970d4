"""Composition root for the web process: builds the Litestar app from settings and registers every route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from crm import __version__
from crm.api import LeadController
from crm.db import make_engine, make_sessionmaker
from crm.health import HealthController
from crm.logs import configure_logging
from crm.problems import EXCEPTION_HANDLERS
from crm.queue import create_queue
from crm.settings import Settings, get_settings
from crm.web import (
    provide_engine,
    provide_queue,
    provide_session,
    provide_settings,
    provide_user,
    request_id_middleware,
)
from listeners.api import MentionImportController, WatchController
from outreach.api import OutreachController


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(settings)
        queue = await create_queue(settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.queue = queue
        try:
            yield
        finally:
            await queue.aclose()
            await engine.dispose()

    return Litestar(
        route_handlers=[HealthController, LeadController, WatchController, MentionImportController, OutreachController],
        lifespan=[lifespan],
        state=State({"settings": settings}),
        dependencies={
            "session": Provide(provide_session),
            "queue": Provide(provide_queue, sync_to_thread=False),
            "engine": Provide(provide_engine, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "user": Provide(provide_user),
        },
        middleware=[DefineMiddleware(request_id_middleware)],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="Warmline",
            version=__version__,
            description="Lead-generation and influencer-outreach CRM API.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http", scheme="bearer", description="API key from `crm apikey create`"
                    ),
                }
            ),
            security=[{"apiKey": []}],
        ),
        response_cache_config=ResponseCacheConfig(),
        debug=settings.debug,
        logging_config=None,
    )
