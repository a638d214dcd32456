"""scikit-learn's own estimator checks. Every check not passed is listed here with its reason."""
from sklearn.utils.estimator_checks import parametrize_with_checks

import skipper

# The engine stores no class weights per sample: fit has no sample_weight, so
# sklearn runs no sample-weight checks; nothing else is expected to fail.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks([skipper.GBDTClassifier(n_estimators=20)],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_sklearn_check(estimator, check):
    check(estimator)
