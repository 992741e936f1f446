"""The incident row lock, and the one lock order every writer follows.

Every transaction that takes more than one row lock takes them in this order:

1. **What the work is about, when it is not the incident itself**: an alert's key,
   then the alert (`incidents/alerts.py`); or a job's row (`jobs/services.py`: claim,
   progress, finish, fail). These rows lead to their incident, so they come first.
2. **The incident row**, through `incident_lock()`. Several incidents are locked in
   ascending id (`incidents_lock()`).
3. **Rows of that incident** that the write changes: evidence items (several in
   exhibit order), a task, a membership, a query-log batch.
4. **The custody ledger head**, last, through `evidence.services.custody_batch()`.

A writer may skip levels but never goes back up one: nothing locks a job, an alert
or an incident while it holds a lock further down the list (taking again a lock the
transaction already holds waits for nothing, so a service that locks the incident
may call another that locks it too). Two writers can then never wait for each
other crosswise, whatever they touch.

Opening an incident also locks its year's reference counter (`incident_open`). Only
that service takes it, and while holding it locks nothing but the new incident's own
rows, so it may come at any point of a transaction.
"""

from collections.abc import Iterable

from incidents.models import Incident


def incident_lock(incident: Incident | int) -> Incident:
    """Lock the incident row for the rest of the caller's transaction and return it
    freshly read. `incident` is an incident or its id. Run inside
    `transaction.atomic()`; take it before any row of level 3 or 4 above.

    The lock is FOR NO KEY UPDATE: rows being inserted that point at the incident
    (a long query-log load holds KEY SHARE on it) neither block it nor are blocked."""
    pk = incident if isinstance(incident, int) else incident.pk
    return Incident.objects.select_for_update(no_key=True).get(pk=pk)


def incidents_lock(incidents: Iterable[Incident | int]) -> dict[int, Incident]:
    """Lock several incidents, in ascending id, as `incident_lock()` does one; returns
    them by id, freshly read."""
    pks = {i if isinstance(i, int) else i.pk for i in incidents}
    return {pk: incident_lock(pk) for pk in sorted(pks)}
