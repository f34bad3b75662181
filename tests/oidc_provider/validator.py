"""The claims of the provider's ID tokens and userinfo answers (``people.PEOPLE``)."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

from tests.oidc_provider.people import PEOPLE


class Validator(OAuth2Validator):
    # django-oauth-toolkit gives only the claims it maps to a granted scope: amr and acr come
    # with openid, as at Entra ID and ID-porten.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "amr": "openid", "acr": "openid"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        return dict(PEOPLE.get(request.user.username, {}))
