"""The old assessment's seven columns move into the generic store.

For every trial with old assessments (``trial.Assessment``): the built-in "Employment and
benefits" instrument (code and built-in key ``employment``, version 1 with the definition frozen
below, so that this migration does not change when ``instruments.builtin`` does), attached to
every visit of the trial's schedule; then each old assessment is copied with the same primary
key, visit, assessment date, who entered it and when (``created_at`` kept; ``updated_at`` set to
it), its answers as ``values`` (only the columns that hold something: booleans, hours as a
float, earnings and self-rated health as integers, codes as strings), no missing-data codes, no
scores, source "staff". The audit trail is not touched: the old events name ``trial.assessment``
and the same ids, so they still find the rows.

A zero in ``hours_per_week`` next to "not in paid work" (the old table allowed it) is kept as it
is, although the definition hides the item: nothing is lost (docs/decisions.md).

The reverse copies the employment answers back into the old table (with the same ids and
``created_at``) and removes them, with the instruments it made, from the generic store.
The contamination answer moved to the visit in ``trial/0009``; it is copied back here too.
"""

from decimal import Decimal

from django.db import migrations

BUILTIN = "employment"
NAME_EN = "Employment and benefits"
NAME_NB = "Arbeid og ytelser"
NOTE = "Answers moved from the old assessment columns."
BATCH = 2000
COLUMNS = (
    "in_paid_work",
    "hours_per_week",
    "monthly_earnings",
    "occupation_code",
    "on_benefits",
    "benefit_type",
    "self_rated_health",
)

# instruments.builtin.employment_definition() as it stood when this migration was written.
DEFINITION = {'items': [{'name': 'in_paid_work',
            'type': 'yesno',
            'label': {'en': 'In paid work', 'nb': 'I lønnet arbeid'},
            'required': True},
           {'name': 'hours_per_week',
            'type': 'decimal',
            'label': {'en': 'Hours per week', 'nb': 'Timer per uke'},
            'min': '0',
            'max': '80',
            'decimals': 1,
            'unit': 'h',
            'show_if': "[in_paid_work] = '1'"},
           {'name': 'monthly_earnings',
            'type': 'integer',
            'label': {'en': 'Monthly earnings (NOK)', 'nb': 'Månedsinntekt (kr)'},
            'min': '0',
            'max': '500000',
            'unit': 'NOK',
            'show_if': "[in_paid_work] = '1'"},
           {'name': 'occupation_code',
            'type': 'occupation',
            'label': {'en': 'Occupation (STYRK-08)', 'nb': 'Yrke (STYRK-08)'},
            'show_if': "[in_paid_work] = '1'"},
           {'name': 'on_benefits',
            'type': 'yesno',
            'label': {'en': 'On benefits', 'nb': 'Mottar ytelse'},
            'required': True},
           {'name': 'benefit_type',
            'type': 'choice',
            'label': {'en': 'Benefit type', 'nb': 'Ytelsestype'},
            'choices': [{'code': 'work_assessment_allowance',
                         'label': {'en': 'Work assessment allowance (AAP)',
                                   'nb': 'Arbeidsavklaringspenger (AAP)'}},
                        {'code': 'disability_benefit',
                         'label': {'en': 'Disability benefit (uføretrygd)',
                                   'nb': 'Uføretrygd'}},
                        {'code': 'unemployment_benefit',
                         'label': {'en': 'Unemployment benefit (dagpenger)',
                                   'nb': 'Dagpenger'}},
                        {'code': 'social_assistance',
                         'label': {'en': 'Social assistance (sosialhjelp)',
                                   'nb': 'Sosialhjelp'}},
                        {'code': 'sickness_benefit',
                         'label': {'en': 'Sickness benefit (sykepenger)',
                                   'nb': 'Sykepenger'}},
                        {'code': 'other', 'label': {'en': 'Other', 'nb': 'Annet'}}],
            'show_if': "[on_benefits] = '1'"},
           {'name': 'self_rated_health',
            'type': 'choice',
            'label': {'en': 'Self-rated health (1 poor – 5 excellent)',
                      'nb': 'Egenvurdert helse (1 dårlig – 5 utmerket)'},
            'choices': [{'code': '1', 'label': {'en': '1 Poor', 'nb': '1 Dårlig'}},
                        {'code': '2', 'label': {'en': '2 Fair', 'nb': '2 Nokså god'}},
                        {'code': '3', 'label': {'en': '3 Good', 'nb': '3 God'}},
                        {'code': '4', 'label': {'en': '4 Very good', 'nb': '4 Svært god'}},
                        {'code': '5',
                         'label': {'en': '5 Excellent', 'nb': '5 Utmerket'}}]}],
 'missing_codes': [{'code': 'not_asked', 'label': {'en': 'Not asked', 'nb': 'Ikke spurt'}},
                   {'code': 'refused',
                    'label': {'en': 'Refused to answer', 'nb': 'Vil ikke svare'}},
                   {'code': 'dont_know', 'label': {'en': "Don't know", 'nb': 'Vet ikke'}}]}


def _values(old):
    """The old row's answers as the generic store keeps them (empty columns left out)."""
    values = {}
    for name in COLUMNS:
        value = getattr(old, name)
        if value is None or value == "":
            continue
        if name == "hours_per_week":
            value = float(value)
        elif name in ("monthly_earnings", "self_rated_health"):
            value = int(value)
        elif name in ("in_paid_work", "on_benefits"):
            value = bool(value)
        else:
            value = str(value)
        values[name] = value
    return values


def _instrument(apps, trial_id):
    """The trial's employment instrument and its version holding DEFINITION (made if need be)."""
    Instrument = apps.get_model("instruments", "Instrument")
    InstrumentVersion = apps.get_model("instruments", "InstrumentVersion")
    instrument = (
        Instrument.objects.filter(trial_id=trial_id, builtin=BUILTIN).order_by("order", "pk").first()
    )
    if instrument is None:
        code, n = BUILTIN, 1
        while Instrument.objects.filter(trial_id=trial_id, code=code).exists():
            n += 1
            code = f"{BUILTIN}-{n}"
        instrument = Instrument.objects.create(
            trial_id=trial_id,
            code=code,
            name_en=NAME_EN,
            name_nb=NAME_NB,
            builtin=BUILTIN,
            order=Instrument.objects.filter(trial_id=trial_id).count(),
        )
    versions = list(InstrumentVersion.objects.filter(instrument=instrument).order_by("number"))
    version = next((v for v in versions if v.definition == DEFINITION), None)
    if version is None:
        version = InstrumentVersion.objects.create(
            instrument=instrument,
            number=versions[-1].number + 1 if versions else 1,
            definition=DEFINITION,
            note=NOTE,
            created_by=None,
        )
    return instrument, version


def _attach(apps, instrument):
    VisitDefinition = apps.get_model("trial", "VisitDefinition")
    VisitInstrument = apps.get_model("instruments", "VisitInstrument")
    attached = set(
        VisitInstrument.objects.filter(instrument=instrument).values_list(
            "visit_definition_id", flat=True
        )
    )
    VisitInstrument.objects.bulk_create(
        VisitInstrument(visit_definition_id=pk, instrument=instrument, order=instrument.order)
        for pk in VisitDefinition.objects.filter(trial_id=instrument.trial_id)
        .order_by("offset_months", "pk")
        .values_list("pk", flat=True)
        if pk not in attached
    )


def _continue_sequence(schema_editor, source, target):
    """After rows copied with their ids, ``target`` hands out ids after the largest copied and
    after every id ``source`` ever gave: an id of a row deleted before the move (an erasure)
    is never given again, so old audit events, which name the old type and id, never point at
    a new row."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = []
            for table in (source, target):
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
                names.append(cursor.fetchone()[0])
            old, new = names
            cursor.execute(
                f"SELECT setval('{new}', GREATEST("  # noqa: S608 - names from the catalogue
                f"(SELECT last_value FROM {old}), (SELECT last_value FROM {new}), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {target})))"
            )
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT name, seq FROM sqlite_sequence WHERE name IN (%s, %s)", [source, target])
            seen = dict(cursor.fetchall())
            highest = max(seen.values(), default=0)
            if target in seen:
                cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [highest, target])
            elif highest:
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [target, highest])


def forwards(apps, schema_editor):
    Old = apps.get_model("trial", "Assessment")
    Assessment = apps.get_model("instruments", "Assessment")
    AuditEvent = apps.get_model("trial", "AuditEvent")
    trial_ids = sorted(
        set(Old.objects.values_list("visit__participant__trial_id", flat=True).distinct())
    )
    for trial_id in trial_ids:
        instrument, version = _instrument(apps, trial_id)
        _attach(apps, instrument)
        rows = Old.objects.filter(visit__participant__trial_id=trial_id).order_by("pk")
        copied, last = 0, 0
        while True:
            batch = list(rows.filter(pk__gt=last)[:BATCH])
            if not batch:
                break
            last = batch[-1].pk
            new = [
                Assessment(
                    pk=old.pk,
                    visit_id=old.visit_id,
                    instrument=instrument,
                    version=version,
                    assessed_on=old.assessed_on,
                    values=_values(old),
                    missing={},
                    scores={},
                    source="staff",
                    recorded_by_id=old.recorded_by_id,
                )
                for old in batch
            ]
            Assessment.objects.bulk_create(new)
            # auto_now_add set today's time: put back when each was really entered.
            for assessment, old in zip(new, batch, strict=True):
                assessment.created_at = old.created_at
                assessment.updated_at = old.created_at
            Assessment.objects.bulk_update(new, ["created_at", "updated_at"])
            copied += len(new)
        # Appended, never rewritten: the trail says when and how the instrument came about.
        AuditEvent.objects.create(
            trial_id=trial_id,
            actor=None,
            actor_name="system",
            action="instrument.created",
            target_type="instruments.instrument",
            target_id=str(instrument.pk),
            target_repr=NAME_EN,
            data={
                "version": version.number,
                "definition": DEFINITION,
                "migrated_from": "trial.assessment",
                "assessments": copied,
            },
        )
    _continue_sequence(schema_editor, Old._meta.db_table, Assessment._meta.db_table)


def _old_values(values):
    hours = values.get("hours_per_week")
    earnings = values.get("monthly_earnings")
    health = values.get("self_rated_health")
    return {
        "in_paid_work": bool(values.get("in_paid_work", False)),
        "hours_per_week": None if hours is None else Decimal(str(hours)),
        "monthly_earnings": None if earnings is None else int(earnings),
        "occupation_code": str(values.get("occupation_code") or ""),
        "on_benefits": bool(values.get("on_benefits", False)),
        "benefit_type": str(values.get("benefit_type") or ""),
        "self_rated_health": None if health is None else int(health),
    }


def backwards(apps, schema_editor):
    """Answers to the employment instrument go back into the old table. Anything the old
    columns cannot hold (missing-data codes, other instruments) is not carried back; the
    other instruments' answers stay where they are."""
    Old = apps.get_model("trial", "Assessment")
    Assessment = apps.get_model("instruments", "Assessment")
    Instrument = apps.get_model("instruments", "Instrument")
    InstrumentVersion = apps.get_model("instruments", "InstrumentVersion")
    VisitInstrument = apps.get_model("instruments", "VisitInstrument")
    rows = Assessment.objects.filter(instrument__builtin=BUILTIN).order_by("pk")
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last).select_related("visit")[:BATCH])
        if not batch:
            break
        last = batch[-1].pk
        old = [
            Old(
                pk=a.pk,
                visit_id=a.visit_id,
                assessed_on=a.assessed_on,
                recorded_by_id=a.recorded_by_id,
                contamination_reported=a.visit.contamination_reported,
                **_old_values(a.values),
            )
            for a in batch
        ]
        Old.objects.bulk_create(old)
        for row, a in zip(old, batch, strict=True):
            row.created_at = a.created_at
        Old.objects.bulk_update(old, ["created_at"])
    rows.delete()
    for instrument in Instrument.objects.filter(builtin=BUILTIN):
        if Assessment.objects.filter(instrument=instrument).exists():
            continue
        VisitInstrument.objects.filter(instrument=instrument).delete()
        InstrumentVersion.objects.filter(instrument=instrument).delete()
        instrument.delete()
    _continue_sequence(schema_editor, Assessment._meta.db_table, Old._meta.db_table)


class Migration(migrations.Migration):
    dependencies = [
        ("instruments", "0001_initial"),
        ("trial", "0009_visit_contamination_reported"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
