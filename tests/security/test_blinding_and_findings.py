"""Blinding, seen from both sides, and what the authorisation matrix found.

The matrix scans every answer a user without VIEW_ALLOCATION gets for the arm names. These tests
show the scan can fail: the same pages give the names to an unblinded statistician.
"""

from __future__ import annotations

import pytest

from tests.security.conftest import ARM_NAMES, MatrixWorld
from tests.security.matrix import send

pytestmark = pytest.mark.django_db

INTERVENTION = ARM_NAMES["A"]


def allocation_urls(world: MatrixWorld) -> list[str]:
    """Pages and endpoints that show allocations (arm per participant or per arm)."""
    study_id = world.objects["ips"]["participant"]["inside"]
    return [
        "/trials/ips/",
        f"/trials/ips/participants/{study_id}/",
        "/trials/ips/randomisation/",
        "/trials/ips/pathways/",
        "/api/v1/trials/ips/arms/",
        "/api/v1/trials/ips/allocations/",
    ]


def test_unblinded_statistician_sees_the_arm_names_blinded_one_does_not(
    matrix_world: MatrixWorld,
) -> None:
    for url in allocation_urls(matrix_world):
        api = url.startswith("/api/")
        unblinded = send(
            matrix_world.client("unblinded"), matrix_world.cookies["unblinded"], "GET", url, api
        )
        assert unblinded.status == 200, url
        assert INTERVENTION in unblinded.text, url
        blinded = send(
            matrix_world.client("statistician"),
            matrix_world.cookies["statistician"],
            "GET",
            url,
            api,
        )
        assert blinded.status == 200, url
        assert not [name for name in ARM_NAMES.values() if name in blinded.text], url


@pytest.mark.parametrize("page", ["score", "consensus"])
def test_empty_fidelity_score_post_reports_the_missing_scores(
    matrix_world: MatrixWorld, page: str
) -> None:
    """An empty POST used to crash (500): the unbound form had no cleaned_data."""
    review = matrix_world.objects["ips"]["review"]["inside"]
    url = f"/trials/ips/fidelity/reviews/{review}/{page}/"
    client, cookies = matrix_world.client("reviewer"), matrix_world.cookies["reviewer"]
    got = send(client, cookies, "POST", url, api=False)
    assert got.status == 200
    assert "25 items need a score; nothing was saved." in got.text
