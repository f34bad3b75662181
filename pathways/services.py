"""The rules of pathways: the state alphabet, sequence settings, data-quality flags, and the
cached monthly sequences. Imports of register files are in ``pathways.importing``."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pathways import sequences
from pathways.models import PathwaySettings, QualityFlag, Spell, SpellState, new_version
from trial import audit
from trial.models import Participant, Trial
from trial.services import TrialError

CACHE_SECONDS = 24 * 60 * 60

# (code, English, Norwegian, colour, priority): the usual alphabet of Norwegian register
# studies of work inclusion, highest priority first.
STANDARD_ALPHABET = [
    ("work", "Work", "Arbeid", "#2e7d32", 1),
    ("education", "Education", "Utdanning", "#1565c0", 2),
    ("aap", "Work assessment allowance", "Arbeidsavklaringspenger", "#ef8f00", 3),
    ("disability", "Disability benefit", "Uføretrygd", "#7b1fa2", 4),
    ("health", "Health care", "Helsetjenester", "#c62828", 5),
]
GAP_COLOUR = "#d9d9d9"


class PathwayError(TrialError):
    """A pathways rule was broken; ``field`` names the input at fault, if any."""


# --- settings and the version that keys the cache -----------------------------------------


def settings_for(trial: Trial) -> PathwaySettings:
    """The trial's sequence settings, created with the defaults the first time."""
    found = PathwaySettings.objects.filter(trial=trial).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return PathwaySettings.objects.create(trial=trial)
    except IntegrityError:  # created by a concurrent request
        return PathwaySettings.objects.get(trial=trial)


def bump_version(trial: Trial) -> None:
    """Mark the trial's sequences stale: call in the transaction of every spell or alphabet
    change. The version is random, so cache keys never collide across databases."""
    settings_for(trial)
    PathwaySettings.objects.filter(trial=trial).update(version=new_version())


def update_settings(trial: Trial, *, actor: User | None, **values: Any) -> PathwaySettings:
    """Change how sequences are built (origin, months, month rule, data cut-off). Audited.

    Raises PathwayError when a calendar origin has no first month.
    """
    with transaction.atomic():
        current = settings_for(trial)
        current = PathwaySettings.objects.select_for_update().get(pk=current.pk)
        before = audit.snapshot(current)
        for name, value in values.items():
            setattr(current, name, value)
        if current.origin == PathwaySettings.Origin.CALENDAR and current.calendar_start is None:
            raise PathwayError(
                _("Choose the first calendar month of the sequences."), field="calendar_start"
            )
        if current.calendar_start is not None:
            current.calendar_start = current.calendar_start.replace(day=1)
        current.version = new_version()
        current.save()
        audit.record_changed(current, before, actor=actor)
    return current


# --- the alphabet --------------------------------------------------------------------------


def add_standard_alphabet(trial: Trial, *, actor: User | None) -> list[SpellState]:
    """Give a trial without states the standard alphabet. Raises PathwayError if it has one."""
    with transaction.atomic():
        settings_for(trial)
        PathwaySettings.objects.select_for_update().get(trial=trial)
        if trial.spell_states.exists():
            raise PathwayError(_("The trial has states already."))
        created = []
        for code, label_en, label_nb, colour, priority in STANDARD_ALPHABET:
            state = SpellState.objects.create(
                trial=trial,
                code=code,
                label_en=label_en,
                label_nb=label_nb,
                colour=colour,
                priority=priority,
                detail=SpellState.Detail.OCCUPATION if code == "work" else SpellState.Detail.TEXT,
            )
            audit.record_created(state, actor=actor)
            created.append(state)
        bump_version(trial)
    return created


def save_state(
    trial: Trial,
    *,
    actor: User | None,
    state: SpellState | None = None,
    **values: Any,
) -> SpellState:
    """Add a state to the alphabet, or change one. A state's code cannot change once spells
    use it. New priorities take effect at once: sequences are rebuilt and the equal-priority
    flags recomputed. Raises PathwayError for a duplicate code or a code in use."""
    with transaction.atomic():
        settings_for(trial)
        PathwaySettings.objects.select_for_update().get(trial=trial)
        code = values.get("code")
        duplicates = SpellState.objects.filter(trial=trial, code=code)
        if state is not None:
            duplicates = duplicates.exclude(pk=state.pk)
        if code is not None and duplicates.exists():
            raise PathwayError(_("The trial has a state with this code already."), field="code")
        if state is None:
            state = SpellState(trial=trial, **values)
            state.full_clean(exclude=["trial"])
            state.save()
            audit.record_created(state, actor=actor)
        else:
            state = SpellState.objects.select_for_update().get(pk=state.pk, trial=trial)
            before = audit.snapshot(state)
            if (
                code is not None
                and code != state.code
                and Spell.objects.filter(state=state).exists()
            ):
                raise PathwayError(
                    _("Spells use this state, so its code cannot change."), field="code"
                )
            for name, value in values.items():
                setattr(state, name, value)
            state.full_clean(exclude=["trial"])
            state.save()
            audit.record_changed(state, before, actor=actor)
        bump_version(trial)
        refresh_flags(trial)
    return state


def delete_state(state: SpellState, *, actor: User | None) -> None:
    """Remove a state no spell uses. Raises PathwayError when spells use it."""
    with transaction.atomic():
        if Spell.objects.filter(state=state).exists():
            raise PathwayError(_("Spells use this state, so it cannot be removed."))
        audit.record_deleted(state, actor=actor)
        state.delete()
        bump_version(state.trial)


# --- data-quality flags --------------------------------------------------------------------


def _overlap_sql(a: str, b: str) -> str:
    """SQL: spells ``a`` and ``b`` of one participant, different states of equal priority,
    share at least one day (an open spell runs forever)."""
    return (
        f"{b}.participant_id = {a}.participant_id AND {a}.id < {b}.id "
        f"AND {b}.state_id <> {a}.state_id "
        f"AND {b}.starts_on <= COALESCE({a}.ends_on, '9999-12-31') "
        f"AND {a}.starts_on <= COALESCE({b}.ends_on, '9999-12-31')"
    )


def refresh_flags(trial: Trial) -> int:
    """Bring the trial's equal-priority flags in line with its spells and alphabet.

    Two spells of one participant in *different* states of the *same* priority that share a
    day are flagged once (two overlapping spells of one state, two jobs, are normal). New
    overlaps get a flag, flags whose overlap is gone are removed, and a reviewed flag that
    still holds keeps its note. One SQL statement each way, so it scales with the trial.
    Call inside the transaction that changed spells or priorities. Safe to repeat. Returns
    the number of open (unreviewed) flags.
    """
    kind = QualityFlag.Kind.EQUAL_PRIORITY
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO pathways_qualityflag
                (trial_id, participant_id, kind, spell_id, other_spell_id, overlap_from,
                 overlap_until, created_at, note)
            SELECT a.trial_id, a.participant_id, %s, a.id, b.id,
                   CASE WHEN a.starts_on > b.starts_on THEN a.starts_on ELSE b.starts_on END,
                   CASE WHEN a.ends_on IS NULL THEN b.ends_on
                        WHEN b.ends_on IS NULL THEN a.ends_on
                        WHEN a.ends_on < b.ends_on THEN a.ends_on ELSE b.ends_on END,
                   %s, ''
            FROM pathways_spell a
            JOIN pathways_spellstate sa ON sa.id = a.state_id
            JOIN pathways_spell b ON {_overlap_sql("a", "b")}
            JOIN pathways_spellstate sb ON sb.id = b.state_id AND sb.priority = sa.priority
            WHERE a.trial_id = %s
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 - the f-string inserts fixed SQL, values are parameters
            [kind, timezone.now(), trial.pk],
        )
        cursor.execute(
            f"""
            DELETE FROM pathways_qualityflag
            WHERE trial_id = %s AND kind = %s AND NOT EXISTS (
                SELECT 1 FROM pathways_spell a
                JOIN pathways_spellstate sa ON sa.id = a.state_id
                JOIN pathways_spell b ON {_overlap_sql("a", "b")}
                JOIN pathways_spellstate sb ON sb.id = b.state_id AND sb.priority = sa.priority
                WHERE a.id = pathways_qualityflag.spell_id
                  AND b.id = pathways_qualityflag.other_spell_id)
            """,  # noqa: S608 - as above
            [trial.pk, kind],
        )
    return QualityFlag.objects.filter(trial=trial, reviewed_at__isnull=True).count()


def review_flag(flag: QualityFlag, *, note: str, actor: User) -> QualityFlag:
    """Mark a flag as looked at, with the data manager's note. Audited. Safe to repeat (the
    note is replaced)."""
    with transaction.atomic():
        flag = QualityFlag.objects.select_for_update().get(pk=flag.pk)
        before = audit.snapshot(flag)
        flag.note = note
        flag.reviewed_at = timezone.now()
        flag.reviewed_by = actor
        flag.save(update_fields=["note", "reviewed_at", "reviewed_by"])
        audit.record(
            "qualityflag.reviewed",
            flag,
            actor=actor,
            trial=flag.trial,
            data={"changes": audit.changes(before, audit.snapshot(flag))},
        )
    return flag


# --- sequences -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """Where a participant's sequence starts, and the window spells must touch."""

    day: dt.date
    window_end: dt.date


def window_end(anchor: dt.date, months: int) -> dt.date:
    """The last day of month ``months`` of a sequence starting on ``anchor``."""
    month_index = anchor.year * 12 + anchor.month - 1 + months
    return dt.date(month_index // 12, month_index % 12 + 1, 1) - dt.timedelta(days=1)


def anchors(
    trial: Trial, *, current: PathwaySettings | None = None, for_import: bool = False
) -> pd.DataFrame:
    """Participants with their anchor day: ``participant_id``, ``study_id``, ``anchor``.

    From randomisation: randomised participants only (for an import's window check, the others
    count from enrolment). From a calendar month: every participant.
    """
    current = current or settings_for(trial)
    rows = Participant.objects.filter(trial=trial).values_list(
        "id", "study_id", "randomised_on", "enrolled_on"
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["participant_id", "study_id", "randomised_on", "enrolled_on"]
    )
    if current.origin == PathwaySettings.Origin.CALENDAR:
        frame["anchor"] = current.calendar_start
    else:
        if not for_import:
            frame = frame[frame["randomised_on"].notna()]
        frame["anchor"] = frame["randomised_on"].where(
            frame["randomised_on"].notna(), frame["enrolled_on"]
        )
    frame = frame.sort_values("study_id", kind="stable").reset_index(drop=True)
    return frame[["participant_id", "study_id", "anchor"]]


def alphabet(trial: Trial) -> list[SpellState]:
    """The trial's states in precedence order (priority, then code)."""
    return list(SpellState.objects.filter(trial=trial).order_by("priority", "code"))


def _load_spells(trial: Trial, ranks: dict[int, int]) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT participant_id, state_id, starts_on, ends_on FROM pathways_spell "
            "WHERE trial_id = %s",
            [trial.pk],
        )
        frame = pd.DataFrame(
            cursor.fetchall(), columns=["participant_id", "state_id", "starts_on", "ends_on"]
        )
    frame["rank"] = frame["state_id"].map(ranks).astype("int64") if len(frame) else 0
    return frame


def sequence_table(trial: Trial, *, today: dt.date | None = None) -> sequences.SequenceTable:
    """The trial's monthly sequences, built once per version of its data and cached.

    The cache key holds the data version (changed with every spell, alphabet or settings
    change), a digest of the participants' anchors (a new randomisation changes it) and the
    cut-off day, so a stale table is never returned.
    """
    current = settings_for(trial)
    states = alphabet(trial)
    people = anchors(trial, current=current)
    observed_until = current.data_until or today or timezone.localdate()
    digest = hashlib.sha256(
        people["participant_id"].to_numpy(dtype=np.int64).tobytes()
        + pd.to_datetime(people["anchor"]).to_numpy().astype("datetime64[D]").tobytes()
    ).hexdigest()[:24]
    key = f"pathways:seq:{trial.pk}:{current.version}:{digest}:{observed_until.isoformat()}"
    cached = cache.get(key)
    codes = tuple(state.code for state in states)
    if cached is not None:
        with np.load(io.BytesIO(cached)) as stored:
            values = stored["values"]
    else:
        spells = _load_spells(trial, {state.pk: rank for rank, state in enumerate(states)})
        values = sequences.build(
            spells,
            people,
            n_states=len(states),
            months=current.follow_up_months,
            rule=current.month_rule,  # type: ignore[arg-type]  # a MonthRule value
            observed_until=observed_until,
        )
        buffer = io.BytesIO()
        np.savez_compressed(buffer, values=values)
        cache.set(key, buffer.getvalue(), CACHE_SECONDS)
    return sequences.SequenceTable(
        participant_ids=people["participant_id"].to_numpy(dtype=np.int64),
        anchors=pd.to_datetime(people["anchor"]).to_numpy().astype("datetime64[D]"),
        codes=codes,
        values=values,
    )
