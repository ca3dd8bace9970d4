"""Warmline CRM core: settings, database, schema, pipeline, API and board."""

__version__ = "0.1.0"
