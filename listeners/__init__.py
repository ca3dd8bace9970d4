"""Listening: platform connectors, matching, normalisation, dedup and storage of public mentions."""
