"""Web plumbing shared by every app: what an API view or a page needs that is not
any one app's business (HackSoft's `api/` module is the model).

- `api.incidents`: the incident in the URL. `IncidentApi` (API views) resolves the
  `reference` once, with the caller's visibility, checks the role and hands the
  handler the incident; `incident_or_404` is the same lookup for a reference that
  comes in a body.
- `api.pages`: the same for browser pages (`incident_page`), and how a page reports
  a service's refusal (`run`, `form_errors`).
- `api.pagination`: the one page-number pagination every list answers with.
- `api.rendering`: `render` (an object through an output serializer) and
  `absolute` (an absolute URL for the links in an answer).
- `api.serializers`: `StrictInput`, the base of every input serializer.

Pages live in this package too, not in a sibling one: a page and an API view that
take the same incident reference must answer "not found" for exactly the same
incidents, so both resolve it through this package, and a page's refusals are the
same domain errors the API renders. Keeping them together makes that one decision in
one place; `api.pages` is the only module here that knows about messages and
redirects.

This is a plain package, not a Django app: it has no models, templates or commands,
so it is not in INSTALLED_APPS. It may import the apps' selectors (the incident
lookup); no app imports web plumbing from another app, only from here.
"""
