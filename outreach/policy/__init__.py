"""The outreach policy: one decision (`decide`) for every message at draft, approval and send, made of rule families
(`people`, `platforms`, `volume`, `quiet_hours`); `outreach.send_policy.ensure_may_send` is the raising door."""
