"""Composing a message: the templates, the personalised render of a draft, and the sandbox user templates run in.

No imports here: the template worker starts as `python -m outreach.compose.sandbox`, which imports this package
first, and it must come up on the standard library and Jinja alone.
"""
