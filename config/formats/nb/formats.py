# See config/formats/__init__.py: the same ISO-like formats in every language. Typed dates are
# still read as Norwegians write them too (Django's own DATE_INPUT_FORMATS for nb: 06.12.2026).
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j. F"
