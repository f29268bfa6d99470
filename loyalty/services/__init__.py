"""Writes of the core app, one module per topic: `clubs`, `tokens` (API clients), `members`, `groups`, `oauth`
(member sign-in) and `imports` (CSV). Callers import the topic module; this package re-exports nothing, so
each function has one address."""
