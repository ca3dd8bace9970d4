"""The web lead board: server-rendered pages for reps (sign-in, kanban by stage, a lead's panel)."""
