"""The OpenAPI schema's word for the API token authentication (drf-spectacular finds it on import)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "annotune.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "An API token from the account page, sent as `Token <key>` (or `Bearer <key>`). "
                "A full-access token reaches this API; an inference-only token reaches /v1/ only."
            ),
        }
