"""Who is calling and what they may do: users, API keys, sign-in, object-level policy, audit and idempotency."""
