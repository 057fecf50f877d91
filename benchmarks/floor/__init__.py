"""The floor: the least a Django site can do to sign users in with Twitter.

Two calls signed with requests-oauthlib, the request token kept in the session, one row
per Twitter account, a sign-up creating a user, ``login()``. No encryption, no audit, no
checks beyond what keeps the flow working. benchmarks/flow.py and benchmarks/load.py
measure it next to django-twitter-oauth, so every figure has a floor to compare with.
It is a benchmark's yardstick, not an example to copy.
"""
