"""How downstream assets follow a refreshed raw table: declarative automation.

Every asset downstream of raw is materialized when a dependency was updated (`eager`), but
only once all blocking checks of its dependencies passed: a mastered table whose rule
checks fail does not flow on into the regional layout or the governed views.
"""

import dagster as dg

DOWNSTREAM = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
