"""Outreach: drafting first DMs, consent and caps, sending, replies and their stage changes."""
