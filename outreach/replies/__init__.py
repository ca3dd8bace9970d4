"""Replies: hearing the person's answer, sorting it, and what it sets off (an opt-out above all).

A folder because replies are a flow of their own, not one function: intake stores each reply once and routes it,
classification sorts it, and an opt-out closes every door; polling inboxes and a learnt classifier join them.
"""
