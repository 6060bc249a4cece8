"""Schedule values as Debian's cron reads them: the one parser that validates them.

Debian's cron (vixie cron 3.0pl1 with Debian's patches) drops a whole /etc/cron.d file when
one line is bad, so a schedule is checked here by that daemon's grammar, not croniter's
(croniter accepts L, W, ?, # and more). The grammar accepted here is a strict subset of
what the daemon loads, and every value means what it looks like:

- five fields separated by whitespace: minute 0-59, hour 0-23, day-of-month 1-31,
  month 1-12 or jan-dec, day-of-week 0-7 (0 and 7 are Sunday) or sun-sat;
- a field is a comma-separated list of items; an item is ``*``, ``*/step``, a value, or a
  range ``a-b`` or ``a-b/step``; values are one or two digits, or three-letter names
  (any case) in the month and day-of-week fields; steps are one or two digits, 1 or more.

Refused although the daemon would load them, each with a reason: ranges that run backwards
(``5-1``, ``sat-sun``), numbers of three or more digits (the daemon reads ``0x10`` as 0 and
wraps ``4294967296`` to 0), text after an item (the daemon ignores ``#2`` in ``1#2`` and
``.5`` in ``1.5``), and schedules with no date at all (``0 0 31 2 *``), which never run.
The daemon rejects ``L``, ``W``, ``?``, ``5/10``, ``*/0``, out-of-range values and full
day names; so does this parser. ``@daily``-style macros are not accepted: the named
frequencies are spread per unit instead.

Stdlib only. Nothing here raises for any input except ``CronError`` from ``parse``.
"""

import collections
import re

NAMED = ("hourly", "daily", "weekly", "monthly")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# name, lowest, highest, names (value of the first name is ``lowest``)
FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, DAYS),
)
# longest day of each month; February has 29 days in leap years, and cron runs then
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
SHOWN = 40  # characters of a value echoed in a message

_VALUE = r"[0-9]+|[A-Za-z]+"
_ITEM = re.compile(
    r"(?P<star>\*)(?:/(?P<star_step>[0-9]+))?"
    r"|(?P<low>{v})(?:-(?P<high>{v})(?:/(?P<step>[0-9]+))?)?".format(v=_VALUE))


class CronError(ValueError):
    """A value Debian's cron would not load (or would load with another meaning)."""


Schedule = collections.namedtuple(
    "Schedule", "text minutes hours days months weekdays day_star weekday_star")
Schedule.__doc__ = """A parsed 5-field cron expression.

``text`` is the normalised expression (fields joined by one space): what the cron file
gets. The sets hold the values each field allows (Sunday as 0). ``day_star`` and
``weekday_star``: the field starts with ``*``; as in cron, a day matches when both its
day-of-month and day-of-week match if either starts with ``*``, and when either matches
otherwise."""


def normalise(value):
    """The value with runs of whitespace (newlines included) made one space, ends trimmed."""
    return " ".join(str(value if value is not None else "").split())


def shown(value):
    """A value as a message may echo it: repr, capped."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN - 3] + "..."


def _number(token, field):
    name, low, high, names = field
    if token.isdigit():
        if len(token) > 2:
            raise CronError("{} value {} has more than two digits".format(name, shown(token)))
        number = int(token)
        if not low <= number <= high:
            raise CronError("{} value {} is out of range {}-{}".format(name, number, low, high))
        return number
    if names and token.lower() in names:
        return names.index(token.lower()) + low
    if token.upper() in ("L", "W", "LW"):
        raise CronError("{} value {}: Debian's cron has no L or W".format(name, shown(token)))
    if names:
        raise CronError("{} value {} is not a number or one of {}".format(
            name, shown(token), ",".join(names)))
    raise CronError("{} value {} is not a number".format(name, shown(token)))


def _step(token, field):
    if len(token) > 2 or int(token) < 1:
        raise CronError("{} step {} must be 1 to 99".format(field[0], shown(token)))
    return int(token)


def _field(text, field):
    """The set of values one field allows."""
    name, low, high, _ = field
    values = set()
    for item in text.split(","):
        m = _ITEM.fullmatch(item)
        if not m:
            odd = sorted(set(item) & set("LW?#@"))
            if odd:
                raise CronError("{} field {}: Debian's cron has no {}".format(
                    name, shown(text), " ".join(odd)))
            raise CronError("{} field {}: {} is not *, a value, a range a-b, or either "
                            "with /step".format(name, shown(text), shown(item)))
        if m.group("star"):
            first, last = low, high
            step = _step(m.group("star_step"), field) if m.group("star_step") else 1
        else:
            first = _number(m.group("low"), field)
            last = _number(m.group("high"), field) if m.group("high") else first
            step = _step(m.group("step"), field) if m.group("step") else 1
            if last < first:
                raise CronError("{} range {} runs backwards: write it as two ranges".format(
                    name, shown(item)))
        values.update(range(first, last + 1, step))
    if high == 7 and 7 in values:  # day-of-week: 7 is Sunday, as 0
        values.discard(7)
        values.add(0)
    return frozenset(values)


def parse(value):
    """The Schedule of a 5-field expression (whitespace normalised); CronError if cron
    would not load it, would read it otherwise, or it never runs."""
    text = normalise(value)
    if text.startswith("@"):
        raise CronError("@-macros are not supported: use hourly, daily, weekly or monthly")
    tokens = text.split(" ") if text else []
    if len(tokens) != 5:
        raise CronError("has {} fields; cron needs 5: minute hour day-of-month month "
                        "day-of-week".format(len(tokens)))
    sets = [_field(token, field) for token, field in zip(tokens, FIELDS)]
    schedule = Schedule(text, *sets, day_star=tokens[2].startswith("*"),
                        weekday_star=tokens[4].startswith("*"))
    if never_runs(schedule):
        raise CronError("never runs: none of its months has one of its days")
    return schedule


def never_runs(schedule):
    """True when no date matches (e.g. 30 February).

    When both day fields are restricted a day matches on either, and every month has
    every weekday. Otherwise the day-of-month must exist in one of the months; any date
    that exists falls on every weekday over the years (29 February too)."""
    if not (schedule.day_star or schedule.weekday_star):
        return False
    return not any(day <= MONTH_DAYS[month - 1]
                   for month in schedule.months for day in schedule.days)


def croniter_args(schedule):
    """(expression, day_or) with which croniter computes the same run times as cron.

    Every field as an explicit list of numbers (``*`` where a star covers the whole
    range), and cron's day rule as croniter's ``day_or``."""
    def listed(values, low, high, star=True):
        if star and values == frozenset(range(low, high + 1)):
            return "*"
        return ",".join(str(v) for v in sorted(values))
    fields = (
        listed(schedule.minutes, 0, 59),
        listed(schedule.hours, 0, 23),
        listed(schedule.days, 1, 31, schedule.day_star),
        listed(schedule.months, 1, 12),
        listed(schedule.weekdays, 0, 6, schedule.weekday_star),
    )
    return " ".join(fields), not (schedule.day_star or schedule.weekday_star)


def frequency(value, named=NAMED):
    """(normalised value, problem) of a schedule setting: one of ``named`` or a 5-field
    expression. The problem is None when valid, else why (without the key's name)."""
    text = normalise(value)
    if text in named:
        return text, None
    try:
        return parse(text).text, None
    except CronError as err:
        return text, str(err)
