"""A tiny OpenID Connect provider for the single sign-on test: a separate Django
project (django-oauth-toolkit with OIDC on, RS256 key from the test), run as a
subprocess on 127.0.0.1. Not part of the panel."""
