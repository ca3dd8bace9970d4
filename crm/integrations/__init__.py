"""Warmline talking to other systems after commit: the change log, the webhook outbox and its delivery, and the
Session hooks that write them (hooks.install, called by the composition roots). The sync feed is crm.leads.sync_api."""
