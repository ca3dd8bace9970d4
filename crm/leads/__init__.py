"""Leads: the REST API, the list and its filters, notes, tasks and timeline, routing, and pipeline configuration."""
