"""The time windows of the metrics (docs/metrics.md), shared by the layers that depend on them.

The transforms compute the figures with them; the warehouse's rebuild planner (``warehouse/rebuild.py``)
needs them to know how many days after an event its figures reach. Defined once here, below both, so the
warehouse imports no transform.
"""

from __future__ import annotations

from datetime import timedelta

# Retention: the share of a cohort active on day C+N exactly, for these N ("Users and growth").
RETENTION_DAYS = (1, 7, 30)
# Last-click attribution: a sign-up is attributed to a click at most 7 days (604,800 s) before it; both
# ends of [t - 7 d, t] are included.
ATTRIBUTION_WINDOW = timedelta(seconds=604_800)
# Attributed revenue: a purchase at most 30 days (2,592,000 s, inclusive) after the attributed sign-up.
REVENUE_WINDOW = timedelta(seconds=2_592_000)
