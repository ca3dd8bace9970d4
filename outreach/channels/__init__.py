"""Channels: how a message leaves Warmline, one adapter module per way out (the protocol in `base`).

Every adapter asks `outreach.send_policy` before the text leaves and hands what it learnt to
`outreach.sending.record_sent`; only the rep's manual send exists so far (`manual`).
"""
