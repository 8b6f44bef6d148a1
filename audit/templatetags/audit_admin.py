"""A date hierarchy for the audit event list that never scans the table.

Django's own runs ``SELECT DISTINCT date_trunc(...)`` over the whole (filtered) queryset to find
which years, months or days have events: seconds on a million rows. This one asks only for
the table's MIN/MAX (two index lookups) and offers every calendar period in that range.
"""

import calendar
import datetime as dt

from django import template
from django.db.models import Max, Min
from django.utils import formats, timezone
from django.utils.text import capfirst

register = template.Library()


@register.inclusion_tag("admin/date_hierarchy.html")
def audit_date_hierarchy(cl):
    field_name = cl.date_hierarchy
    year_field, month_field, day_field = (
        f"{field_name}__{part}" for part in ("year", "month", "day")
    )

    def param(name):
        value = cl.params.get(name)
        value = value[-1] if isinstance(value, list) else value
        return int(value) if value and str(value).isdigit() else None

    year, month, day = param(year_field), param(month_field), param(day_field)

    def link(filters):
        return cl.get_query_string(filters, [f"{field_name}__"])

    bounds = None
    if not (year or month or day):
        # The whole table's bounds, not the filtered view's: MIN/MAX under a filter walks the
        # date index until a matching row turns up (a million rows for a rare, recent filter).
        bounds = cl.root_queryset.aggregate(first=Min(field_name), last=Max(field_name))
        if not bounds["first"]:
            return {"show": False}
        first, last = (timezone.localtime(bounds[k]) for k in ("first", "last"))
        bounds = (first, last)
        if first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
    if year and month and day:
        date = dt.date(year, month, day)
        return {
            "show": True,
            "back": {
                "link": link({year_field: year, month_field: month}),
                "title": capfirst(formats.date_format(date, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(date, "MONTH_DAY_FORMAT"))}],
        }
    if year and month:
        days = calendar.monthrange(year, month)[1]
        return {
            "show": True,
            "back": {"link": link({year_field: year}), "title": str(year)},
            "choices": [
                {
                    "link": link({year_field: year, month_field: month, day_field: d}),
                    "title": capfirst(
                        formats.date_format(dt.date(year, month, d), "MONTH_DAY_FORMAT")
                    ),
                }
                for d in range(1, days + 1)
            ],
        }
    if year:
        return {
            "show": True,
            "back": {"link": link({}), "title": "All dates"},
            "choices": [
                {
                    "link": link({year_field: year, month_field: m}),
                    "title": capfirst(
                        formats.date_format(dt.date(year, m, 1), "YEAR_MONTH_FORMAT")
                    ),
                }
                for m in range(1, 13)
            ],
        }
    first, last = bounds
    return {
        "show": True,
        "back": None,
        "choices": [
            {"link": link({year_field: str(y)}), "title": str(y)}
            for y in range(first.year, last.year + 1)
        ],
    }
