"""Forms for the randomisation pages. They check the shape of the input; whether a scheme can be
locked is decided by ``services.scheme_problems``, whose messages the views put next to the
fields named here (the form's field names are the scheme's).
"""

from __future__ import annotations

import csv
import math
import re
from decimal import Decimal
from typing import Any

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from randomisation.schemes.models import Scheme
from trial.models import CovariateDefinition, Trial

SITE_FIELDS = [("region", _("Region")), ("municipality_number", _("Municipality number"))]
STRATUM_KINDS = {CovariateDefinition.Kind.CHOICE, CovariateDefinition.Kind.BOOLEAN}
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

METHODS_BY_DESIGN = {
    Trial.Design.INDIVIDUAL: [
        Scheme.Method.SIMPLE,
        Scheme.Method.BLOCKS,
        Scheme.Method.MINIMISATION,
    ],
    Trial.Design.CLUSTER: [
        Scheme.Method.CLUSTER_STRATIFIED,
        Scheme.Method.CLUSTER_PAIRS,
        Scheme.Method.CLUSTER_CONSTRAINED,
    ],
    Trial.Design.STEPPED_WEDGE: [Scheme.Method.STEPPED_WEDGE],
}

# The fields each method uses; the others are reset to their defaults when a draft is saved,
# so that a locked scheme (and its commitment) holds only what decides its allocations.
USED_BY = {
    "block_sizes": {Scheme.Method.BLOCKS},
    "stratify_by_site": {Scheme.Method.BLOCKS},
    "strata_covariates": {Scheme.Method.BLOCKS},
    "minimisation_factors": {Scheme.Method.MINIMISATION},
    "p_best": {Scheme.Method.MINIMISATION},
    "imbalance_measure": {Scheme.Method.MINIMISATION},
    "site_strata_field": {Scheme.Method.CLUSTER_STRATIFIED, Scheme.Method.STEPPED_WEDGE},
    "site_pairs": {Scheme.Method.CLUSTER_PAIRS},
    "site_covariates": set(Scheme.CLUSTER_METHODS),
    "constraint_covariates": {Scheme.Method.CLUSTER_CONSTRAINED},
    "constraint_cutoff": {Scheme.Method.CLUSTER_CONSTRAINED},
    "steps": {Scheme.Method.STEPPED_WEDGE},
    "first_step_on": {Scheme.Method.STEPPED_WEDGE},
    "step_length_months": {Scheme.Method.STEPPED_WEDGE},
}


def _as_stored(name: str, value: Any) -> Any:
    """A decimal as the database returns it (0.8 -> Decimal("0.80")), so that saving the same
    values again is not recorded as a change."""
    field = Scheme._meta.get_field(name)
    if isinstance(field, models.DecimalField) and value is not None:
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-field.decimal_places))
    return value


def _default(name: str) -> Any:
    return _as_stored(name, Scheme._meta.get_field(name).get_default())  # type: ignore[union-attr]  # a field


def _textarea(rows: int) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 60})


class BlockSizesField(forms.CharField):
    """Comma-separated whole numbers, e.g. ``4, 6``, as a list of ints."""

    def to_python(self, value: Any) -> list[int]:  # type: ignore[override]  # returns the parsed value
        text: str = super().to_python(value)  # type: ignore[assignment]  # empty_value is ""
        sizes: list[int] = []
        for part in text.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or int(part) < 1:
                raise forms.ValidationError(
                    _("“%(value)s” is not a whole number above zero."), params={"value": part}
                )
            size = int(part)
            if size in sizes:
                raise forms.ValidationError(
                    _("The block size %(size)s appears twice."), params={"size": size}
                )
            sizes.append(size)
        return sizes

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(map(str, value))
        return value


class SitePairsField(forms.CharField):
    """One pair of site codes a line, ``OSLA,OSLB``, as ``[["OSLA", "OSLB"], ...]``."""

    widget = _textarea(4)

    def to_python(self, value: Any) -> list[list[str]]:  # type: ignore[override]  # returns the parsed value
        text: str = super().to_python(value)  # type: ignore[assignment]  # empty_value is ""
        pairs: list[list[str]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            codes = [code.strip().upper() for code in re.split(r"[,;]", line)]
            if len(codes) != 2 or not all(codes):
                raise forms.ValidationError(
                    _("Line %(number)s: write two site codes separated by a comma."),
                    params={"number": number},
                )
            pairs.append(codes)
        return pairs

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(",".join(pair) for pair in value)
        return value


def _split_csv(text: str) -> tuple[list[list[str]], str]:
    """Rows of a pasted table, and its delimiter: a comma, or a semicolon (Norwegian Excel)."""
    lines = text.strip().splitlines()
    header = lines[0] if lines else ""
    delimiter = ";" if ";" in header and "," not in header else ","
    return [list(row) for row in csv.reader(lines, delimiter=delimiter)], delimiter


def covariate_names(text: str) -> list[str]:
    """The covariate names in a pasted table's header, leniently (for the choices offered)."""
    if not isinstance(text, str) or not text.strip():
        return []
    rows, _delimiter = _split_csv(text)
    return [name.strip() for name in rows[0][1:] if NAME_PATTERN.match(name.strip())]


class SiteCovariatesField(forms.CharField):
    """A table of site-level covariates with a header: ``site,size,unemployment`` and then one
    line a site, as ``{site: {name: value}}``. Errors name the line."""

    widget = _textarea(6)

    def __init__(self, *args: Any, sites: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sites = sites

    def to_python(self, value: Any) -> dict[str, dict[str, float]]:  # type: ignore[override]  # returns the parsed value
        text: str = super().to_python(value)  # type: ignore[assignment]  # empty_value is ""
        if not text.strip():
            return {}
        rows, delimiter = _split_csv(text)
        header = [cell.strip() for cell in rows[0]]
        if not header or header[0].lower() != "site" or len(header) < 2:
            raise forms.ValidationError(
                _("Line 1: start with a header such as “site,size,unemployment”.")
            )
        names = header[1:]
        for name in names:
            if not NAME_PATTERN.match(name):
                raise forms.ValidationError(
                    _(
                        "Line 1: “%(name)s” is not a usable name; use letters, digits and _ and "
                        "start with a letter."
                    ),
                    params={"name": name},
                )
        if len(set(names)) != len(names):
            raise forms.ValidationError(_("Line 1: a covariate name appears twice."))
        result: dict[str, dict[str, float]] = {}
        for number, row in enumerate(rows[1:], start=2):
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if len(cells) != len(header):
                raise forms.ValidationError(
                    _("Line %(number)s: expected %(expected)s values, found %(found)s."),
                    params={"number": number, "expected": len(header), "found": len(cells)},
                )
            code = cells[0].upper()
            if code not in self.sites:
                raise forms.ValidationError(
                    _("Line %(number)s: the trial has no site %(code)s."),
                    params={"number": number, "code": code},
                )
            if code in result:
                raise forms.ValidationError(
                    _("Line %(number)s: site %(code)s appears twice."),
                    params={"number": number, "code": code},
                )
            values: dict[str, float] = {}
            for name, cell in zip(names, cells[1:], strict=True):
                number_text = cell.replace(",", ".") if delimiter == ";" else cell
                try:
                    parsed = float(number_text)
                except ValueError:
                    parsed = math.nan
                if not math.isfinite(parsed):
                    raise forms.ValidationError(
                        _("Line %(number)s: %(name)s must be a number, not “%(value)s”."),
                        params={"number": number, "name": name, "value": cell},
                    )
                values[name] = int(parsed) if parsed.is_integer() else parsed
            result[code] = values
        return result

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            if not value:
                return ""
            names = list(dict.fromkeys(name for values in value.values() for name in values))
            lines = [",".join(["site", *names])]
            for code, values in value.items():
                lines.append(",".join([code, *(str(values.get(name, "")) for name in names)]))
            return "\n".join(lines)
        return value


def _weight_name(factor: str) -> str:
    return f"weight_{factor}"


class SchemeForm(forms.Form):
    """A draft scheme. Which fields appear depends on the trial's design."""

    method = forms.ChoiceField(label=_("Method"))
    notes = forms.CharField(label=_("Notes"), required=False, widget=_textarea(3))

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trial = trial
        self.cluster = trial.design != Trial.Design.INDIVIDUAL
        allowed = METHODS_BY_DESIGN[Trial.Design(trial.design)]
        self.fields["method"].choices = [(m.value, m.label) for m in allowed]  # type: ignore[attr-defined]  # a ChoiceField
        self.factor_errors: list[str] = []
        self.weight_fields: list[str] = []
        if self.cluster:
            self._cluster_fields()
        else:
            self._individual_fields()
        # Only what the design's methods use: a stepped-wedge trial is not asked for pairs.
        for name in [n for n in self.fields if n in USED_BY]:
            if not USED_BY[name] & set(allowed):
                del self.fields[name]

    # --- fields --------------------------------------------------------------------------

    def _individual_fields(self) -> None:
        covariates = [c for c in self.trial.covariates.all() if c.kind in STRATUM_KINDS]
        self.fields["block_sizes"] = BlockSizesField(
            label=_("Block sizes"),
            required=False,
            help_text=_(
                "Comma-separated, e.g. 4, 6. Each block's size is drawn at random from these; "
                "each must be a multiple of the sum of the arms' allocation weights."
            ),
        )
        self.fields["stratify_by_site"] = forms.BooleanField(
            label=_("Stratify by site"), required=False
        )
        self.fields["strata_covariates"] = forms.MultipleChoiceField(
            label=_("Stratify by baseline covariates"),
            required=False,
            choices=[(c.key, c.label) for c in covariates],
            widget=forms.CheckboxSelectMultiple,
            help_text=_("Only required choice and yes/no covariates can define strata."),
        )
        factors = [("site", _("Site"))] + [(c.key, c.label) for c in covariates]
        for key, label in factors:
            name = _weight_name(key)
            self.fields[name] = forms.DecimalField(
                label=label,
                required=False,
                min_value=0,
                max_value=100,
                max_digits=5,
                decimal_places=2,
                initial=0,
            )
            self.weight_fields.append(name)
        self.factor_keys = [key for key, _label in factors]
        self.fields["p_best"] = forms.DecimalField(
            label=_("Probability of allocating the minimising arm"),
            required=False,
            min_value=Decimal("0.5"),
            max_value=Decimal("1"),
            max_digits=3,
            decimal_places=2,
            initial=_default("p_best"),
            help_text=_("Between 0.5 and 1; below 1 keeps the next allocation unpredictable."),
        )
        self.fields["imbalance_measure"] = forms.ChoiceField(
            label=_("Imbalance measure"),
            choices=Scheme.Measure.choices,
            initial=Scheme.Measure.RANGE,
        )

    def _cluster_fields(self) -> None:
        sites = list(self.trial.sites.order_by("code").values_list("code", flat=True))
        names = self._offered_covariate_names()
        self.fields["site_covariates"] = SiteCovariatesField(
            label=_("Site covariates"),
            required=False,
            sites=sites,
            help_text=_(
                "A table with a header line, e.g. “site,size,unemployment”, then one line a "
                "site: “OSLA,40,3.1”."
            ),
        )
        self.fields["site_strata_field"] = forms.ChoiceField(
            label=_("Stratify sites by"),
            required=False,
            choices=[("", _("No stratification")), *SITE_FIELDS, *[(n, n) for n in names]],
            help_text=_("The site's region or municipality, or one of the site covariates."),
        )
        self.fields["site_pairs"] = SitePairsField(
            label=_("Site pairs"),
            required=False,
            help_text=_("For pair-matched designs: one pair a line, e.g. “OSLA,OSLB”."),
        )
        self.fields["constraint_covariates"] = forms.MultipleChoiceField(
            label=_("Site covariates to balance"),
            required=False,
            choices=[(n, n) for n in names],
            widget=forms.CheckboxSelectMultiple,
            help_text=_("For covariate-constrained designs. Enter the site covariates first."),
        )
        self.fields["constraint_cutoff"] = forms.DecimalField(
            label=_("Share of best-balanced candidate allocations to keep"),
            required=False,
            min_value=Decimal("0.001"),
            max_value=Decimal("1"),
            max_digits=4,
            decimal_places=3,
            initial=_default("constraint_cutoff"),
            help_text=_("E.g. 0.1 keeps the best 10 %; one of them is chosen at random."),
        )
        self.fields["steps"] = forms.IntegerField(
            label=_("Number of steps"), required=False, min_value=1, max_value=100
        )
        self.fields["first_step_on"] = forms.DateField(
            label=_("First crossover date"),
            required=False,
            widget=forms.DateInput(attrs={"type": "date"}),
        )
        self.fields["step_length_months"] = forms.IntegerField(
            label=_("Months between steps"), required=False, min_value=1, max_value=60
        )

    def _offered_covariate_names(self) -> list[str]:
        """Covariate names from the saved draft and from what was just typed in."""
        names = covariate_names(self.initial_site_covariates())
        if self.is_bound:
            names += covariate_names(self.data.get(self.add_prefix("site_covariates"), ""))
        return list(dict.fromkeys(names))

    def initial_site_covariates(self) -> str:
        value = self.initial.get("site_covariates")
        if isinstance(value, dict):
            return str(SiteCovariatesField(sites=[]).prepare_value(value))
        return value or ""

    # --- groups, for the template ----------------------------------------------------------

    def groups(self) -> list[dict[str, Any]]:
        """The fields in labelled groups, each saying which methods use it."""

        def bound(names: list[str]) -> list[forms.BoundField]:
            return [self[name] for name in names if name in self.fields]

        groups = self._cluster_groups(bound) if self.cluster else self._individual_groups(bound)
        return [group for group in groups if group["fields"]]

    def _cluster_groups(self, bound: Any) -> list[dict[str, Any]]:
        return [
            {"legend": _("Method"), "fields": bound(["method"])},
            {
                "legend": _("Site covariates"),
                "note": _("Used to stratify sites or to balance a constrained allocation."),
                "fields": bound(["site_covariates"]),
            },
            {
                "legend": _("Stratification of sites"),
                "note": _("For stratified and stepped-wedge designs."),
                "fields": bound(["site_strata_field"]),
            },
            {
                "legend": _("Pair matching"),
                "note": _("For the pair-matched design."),
                "fields": bound(["site_pairs"]),
            },
            {
                "legend": _("Covariate-constrained allocation"),
                "note": _("For the covariate-constrained design."),
                "fields": bound(["constraint_covariates", "constraint_cutoff"]),
            },
            {
                "legend": _("Stepped wedge"),
                "note": _("For the stepped-wedge design."),
                "fields": bound(["steps", "first_step_on", "step_length_months"]),
            },
            {"legend": _("Notes"), "fields": bound(["notes"])},
        ]

    def _individual_groups(self, bound: Any) -> list[dict[str, Any]]:
        return [
            {"legend": _("Method"), "fields": bound(["method"])},
            {
                "legend": _("Permuted blocks"),
                "note": _("For permuted blocks only."),
                "fields": bound(["block_sizes", "stratify_by_site", "strata_covariates"]),
            },
            {
                "legend": _("Minimisation"),
                "note": _(
                    "For minimisation only. Give each factor to balance a weight; 0 leaves it out."
                ),
                "fields": bound([*self.weight_fields, "p_best", "imbalance_measure"]),
                "errors": self.factor_errors,
            },
            {"legend": _("Notes"), "fields": bound(["notes"])},
        ]

    # --- values -----------------------------------------------------------------------------

    @classmethod
    def initial_for(cls, scheme: Scheme) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: getattr(scheme, name) for name in ["method", "notes", *USED_BY]
        }
        for item in scheme.minimisation_factors:
            initial[_weight_name(item["factor"])] = item["weight"]
        return initial

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()  # type: ignore[assignment]  # the base returns cleaned_data
        field = data.get("site_strata_field")
        covariates = data.get("site_covariates")
        if field and field not in dict(SITE_FIELDS) and isinstance(covariates, dict):
            missing = [code for code, values in covariates.items() if field not in values]
            known = set(covariates)
            missing += [
                code
                for code in self.trial.sites.values_list("code", flat=True)
                if code not in known
            ]
            if missing or not covariates:
                self.add_error(
                    "site_strata_field",
                    _("Give %(name)s for every site in the site covariates (missing: %(codes)s).")
                    % {"name": field, "codes": ", ".join(sorted(missing)) or "–"},
                )
        return data

    def scheme_values(self) -> dict[str, Any]:
        """The scheme's field values from valid input; fields the method does not use get
        their defaults."""
        data = self.cleaned_data
        method = data["method"]
        values: dict[str, Any] = {"method": method, "notes": data.get("notes", "")}
        if not self.cluster:
            values["minimisation_factors"] = [
                {"factor": key, "weight": _plain_number(data[_weight_name(key)])}
                for key in self.factor_keys
                if data.get(_weight_name(key))
            ]
        for name in USED_BY:
            if name not in values:
                value = data.get(name)
                values[name] = _default(name) if value is None else value
        for name, methods in USED_BY.items():
            if method not in methods:
                values[name] = _default(name)
        return {name: _as_stored(name, value) for name, value in values.items()}

    def add_problems(self, problems: dict[str | None, str]) -> list[str]:
        """Put ``scheme_problems`` messages next to their fields; returns the ones about the
        trial's set-up rather than this form (no field)."""
        general = []
        for field, message in problems.items():
            if field == "minimisation_factors" and self.weight_fields:
                self.factor_errors.append(message)
            elif field in self.fields:
                self.add_error(field, message)
            else:
                general.append(message)
        return general


def _plain_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
