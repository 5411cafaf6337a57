"""Who may do what: staff passwords, intake API keys, the rate limit, demo mode and the OpenID Connect client."""
