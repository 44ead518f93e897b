//! Reading what the services export over OTLP, for the tests' collectors.

use opentelemetry_proto::tonic::{common::v1::any_value, resource::v1::Resource};

/// The `service.name` a resource carries; empty when it carries none.
pub fn service_name(resource: Option<&Resource>) -> String {
    resource
        .into_iter()
        .flat_map(|resource| &resource.attributes)
        .find(|attribute| attribute.key == "service.name")
        .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
        .and_then(|value| match value {
            any_value::Value::StringValue(name) => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_default()
}
