//! The `alerting` section tolerated in `config.yaml`. Connaisseur accepts it there for
//! compatibility with its Helm values but reads alerting from `/app/alerts/config.yaml`;
//! so does tastevin. It is decoded strictly (unknown keys and wrong types are errors) and
//! otherwise ignored.

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::yaml::Yaml11Bool;

/// Alerting configuration: where to send notifications about admission decisions.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertingConfig {
    pub cluster_identifier: Option<String>,
    pub admit_request: Option<AlertStream>,
    pub reject_request: Option<AlertStream>,
}

/// The receivers of one stream (admitted or rejected requests).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AlertStream {
    #[serde(default)]
    pub receivers: Vec<AlertReceiver>,
}

/// One notification target.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertReceiver {
    pub template: Option<String>,
    pub receiver_url: Option<String>,
    pub priority: Option<i64>,
    pub custom_headers: Option<Vec<String>>,
    /// Free-form fields merged into the payload; only their presence is kept here.
    #[serde(default, deserialize_with = "present")]
    pub payload_fields: bool,
    pub fail_if_alert_sending_fails: Option<Yaml11Bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_decode_and_unknown_keys_fail() {
        let text = "clusterIdentifier: c\nadmitRequest:\n  receivers:\n    - template: slack\n      receiverUrl: https://x\n      payloadFields: {a: [1]}\n      failIfAlertSendingFails: True\n";
        let config = serde_norway::from_str::<AlertingConfig>(text).ok();
        let receiver = config
            .as_ref()
            .and_then(|c| c.admit_request.as_ref())
            .and_then(|s| s.receivers.first());
        assert_eq!(receiver.map(|r| r.payload_fields), Some(true));
        assert_eq!(
            receiver.and_then(|r| r.fail_if_alert_sending_fails),
            Some(Yaml11Bool(true))
        );
        assert!(
            serde_norway::from_str::<AlertingConfig>("admitRequest: {receivers: [{tmpl: x}]}")
                .is_err()
        );
    }
}
