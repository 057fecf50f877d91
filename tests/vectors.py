"""Published OAuth 1.0a signature vectors, in one place for every test that checks against them.

Each value is copied once, here, from its publisher:

- RFC 5849 §3.4.1, https://www.rfc-editor.org/rfc/rfc5849#section-3.4.1 (the signature the
  RFC prints does not reproduce; ``RFC_SIGNATURE`` is the corrected one that public test
  suites assert).
- X's "Log in with X" flow, https://docs.x.com/fundamentals/authentication/guides/log-in-with-x
  (reproduces only with the host ``api.twitter.com``).
- X's "Creating a signature",
  https://docs.x.com/fundamentals/authentication/oauth-1-0a/creating-a-signature
  (one valid signature per base URL it was published with).

Timestamps are ints; tests that need the header's text use ``str()``.
"""

from __future__ import annotations

# -- RFC 5849 §3.4.1: POST http://example.com/request ------------------------------------

RFC_URL = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
RFC_BODY = "c2&a3=2+q"
RFC_CONSUMER_KEY = "9djdj82h48djs9d2"
RFC_CONSUMER_SECRET = "j49sk3j29djd"
RFC_TOKEN = "kkk9d7dh3k39sjv7"
RFC_TOKEN_SECRET = "dh893hdasih9"
RFC_TIME = 137131201
RFC_NONCE = "7d8f3e4a"
RFC_SIGNATURE = "r6/TJjbCOr97/+UU0NsvSne7s5g="

# -- "Log in with X": request token, callback, access token ---------------------------------

LOGIN_KEY = "cChZNFj6T5R0TigYB9yd1w"
LOGIN_SECRET = "L8qq9PZyRg6ieKGEKhZolGC0vJWLw8iEJ88DRdyOg"
LOGIN_TIME = 1318467427
LOGIN_CALLBACK = "http://localhost/sign-in-with-twitter/"
#: POST oauth/request_token.
LOGIN_REQUEST_TOKEN_NONCE = "ea9ec8429b68d6b77cd5600adbbb0456"
LOGIN_REQUEST_TOKEN_SIGNATURE = "F1Li3tvehgcraF8DMJ7OyxO4w9Y="
LOGIN_REQUEST_TOKEN = "NPcudxy0yU5T3tBzho7iCotZ3cnetKwcTIRlX0iwRl0"
LOGIN_REQUEST_SECRET = "veNRnAWe6inFuo8o2u8SLLZLjolYDmDP7SzL0YfYI"
#: The callback's oauth_verifier.
LOGIN_VERIFIER = "uw7NjWHT6OJ1MpJOXsHfNxoAhPKpgI8BlYDhxEjIBY"
#: POST oauth/access_token (the same signature with the verifier in the body or the header).
LOGIN_ACCESS_TOKEN_NONCE = "a9900fe68e2573b27a37f10fbad6a755"
LOGIN_ACCESS_TOKEN_SIGNATURE = "39cipBtIOHEEnybAR4sATQTpl2I="
#: What the access-token request's signature would be with an empty token secret (wrong).
LOGIN_ACCESS_TOKEN_SIGNATURE_NO_TOKEN_SECRET = "eLn5QjdCqHdlBEvOogMeGuRxW4k="
LOGIN_ACCESS_TOKEN = "7588892-kagSNqWge8gB1WwE3plnFsJHAZVfxWD7Vb57p0b4"
LOGIN_ACCESS_SECRET = "PbKfYqSryyeKDWz4ebtY3o5ogNLG11WJuZBc9fQrQo"

# -- "Creating a signature": POST 1.1/statuses/update.json?include_entities=true ------------

SIG_KEY = "xvz1evFS4wEEPTGEFPHBog"
SIG_SECRET = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
SIG_TOKEN = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
SIG_TOKEN_SECRET = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
SIG_TIME = 1318622958
SIG_NONCE = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
SIG_STATUS = "Hello Ladies + Gentlemen, a signed OAuth request!"
#: The form body exactly as the page prints it (lower-case percent-encoding hex).
SIG_BODY = "status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21"
#: (base URL, oauth_signature): the page was published with both hosts.
SIG_SIGNATURES = [
    ("https://api.x.com", "Ls93hJiZbQ3akF3HF3x1Bz8/zU4="),
    ("https://api.twitter.com", "hCtSmYh+iHYCEqBWrE7C7hYmtUk="),
]
