"""The REST API under /api/v1/ (django-ninja): stacks, operations and alerts for
scripts and CI, authenticated by a user's API token (stacks.models.ApiToken)
and checked by the same rules as the pages (stacks.accounts.access)."""
