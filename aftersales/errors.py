"""The documented exception tree; entry points turn these into clear messages and statuses."""


class AftersalesError(Exception):
    """Base of every error this product raises on purpose."""


class RuleViolation(AftersalesError):
    """A request breaks a business rule (bad input, step not allowed now)."""


class NotFound(AftersalesError):
    """A case, gate or person that does not exist."""


class Forbidden(AftersalesError):
    """A link or person that may not do what it asked."""


class ConfigurationError(AftersalesError):
    """The policy, staff directory or settings are not usable."""


class IntegrationError(AftersalesError):
    """An outside system (mail, chat, Prefect API) failed."""


class TransientIntegrationError(IntegrationError):
    """An outside failure worth retrying."""
