"""Scoring: warm-lead and influencer models, their registry, and the jobs that apply them."""
