"""The whole demo trial: ``trial.demo`` builds set-up and follow-up; this adds what the apps
built on ``trial`` contribute (a real stratified block scheme and its allocation log)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from randomisation import services as randomisation
from randomisation.models import Scheme
from trial.demo import DemoHooks, DemoResult
from trial.demo import seed_demo as seed_trial
from trial.models import Participant, Trial


class FullDemo(DemoHooks):
    def trial_ready(self, trial: Trial, coordinator: Any) -> None:
        scheme = Scheme.objects.create(
            trial=trial,
            method=Scheme.Method.BLOCKS,
            block_sizes=[4, 6],
            stratify_by_site=True,
            notes="Permuted blocks of 4 and 6, stratified by NAV office.",
        )
        randomisation.lock_scheme(scheme, actor=coordinator)

    def randomise(self, participant: Participant, on: dt.date, actor: Any) -> None:
        randomisation.randomise(participant, actor=actor, on=on)


def seed_demo(
    *, participants: int = 600, seed: int = 1, as_of: dt.date | None = None
) -> DemoResult:
    return seed_trial(participants=participants, seed=seed, as_of=as_of, hooks=FullDemo())
