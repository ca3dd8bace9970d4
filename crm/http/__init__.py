"""Request plumbing shared by every route: providers, ETags, paging, problem details, OpenAPI, rate limits, health."""
