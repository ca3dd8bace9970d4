"""Warmline talking to other systems: the change log and sync feed, the webhook outbox and its delivery."""
