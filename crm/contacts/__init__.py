"""People behind the handles: contacts, platform accounts, organisations, merging, privacy and CSV."""
