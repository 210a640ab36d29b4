"""Quality rules as Dagster asset checks, built from the rule table mastering applies."""

from asset_checks.campaign_checks import CAMPAIGN_CHECKS
from asset_checks.governance_checks import GOVERNANCE_CHECKS
from asset_checks.identity_checks import IDENTITY_CHECKS
from asset_checks.integrity_checks import LANDING_CHECKS
from asset_checks.mart_checks import MART_CHECKS
from asset_checks.mastered_checks import MASTERED_CHECKS, SOURCE_CHECKS
from asset_checks.regional_checks import REGIONAL_CHECKS

ALL_CHECKS = [
    *LANDING_CHECKS,
    *MASTERED_CHECKS,
    *SOURCE_CHECKS,
    *CAMPAIGN_CHECKS,
    *MART_CHECKS,
    *GOVERNANCE_CHECKS,
    *REGIONAL_CHECKS,
    *IDENTITY_CHECKS,
]

__all__ = ["ALL_CHECKS"]
