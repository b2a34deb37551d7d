//! The model upgrade the operator suites roll out (node agent and real node): `fraud-v2`, and the check that
//! `verify` with both models saw every partition switch from v1 to v2 exactly once.

use sluice_cli::verify::VerifyReport;
use sluice_core::model::FRAUD_V1_YAML;

/// fraud-v2: the v1 rules with a lower review and decline threshold, so decisions really change.
pub fn model_v2_yaml() -> String {
    FRAUD_V1_YAML
        .replace("version: fraud-v1", "version: fraud-v2")
        .replace("review: 40", "review: 30")
        .replace("decline: 70", "decline: 60")
}

/// Each of `partitions` switched from fraud-v1 to fraud-v2 at exactly one offset.
pub fn assert_each_partition_switched_once(report: &VerifyReport, partitions: usize) {
    assert_eq!(
        report.model_switches.len(),
        partitions,
        "each partition switches once: {report:#?}"
    );
    assert!(
        report
            .model_switches
            .iter()
            .all(|s| s.contains("fraud-v1 → fraud-v2")),
        "{report:#?}"
    );
}
