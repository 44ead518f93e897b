//! Small gRPC clients the tests use: health and reflection.

use prost::Message as _;
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::{v1, v1alpha};

/// Health status of `service` ("" for the whole server).
pub async fn health(channel: Channel, service: &str) -> anyhow::Result<ServingStatus> {
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}

/// Services listed by reflection v1, sorted.
pub async fn list_services_v1(channel: Channel) -> anyhow::Result<Vec<String>> {
    use v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    let response = responses
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("no reflection answer"))??;
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
            names.sort();
            Ok(names)
        }
        other => anyhow::bail!("unexpected reflection answer: {other:?}"),
    }
}

/// Services listed by reflection v1alpha (what older grpcurl asks), sorted.
pub async fn list_services_v1alpha(channel: Channel) -> anyhow::Result<Vec<String>> {
    use v1alpha::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    let response = responses
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("no reflection answer"))??;
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
            names.sort();
            Ok(names)
        }
        other => anyhow::bail!("unexpected reflection answer: {other:?}"),
    }
}

/// The doc comment that reflection v1 serves for service `symbol`, as `grpcurl describe` shows it.
pub async fn service_doc_comment(channel: Channel, symbol: &str) -> anyhow::Result<String> {
    let service_name = symbol.rsplit('.').next().unwrap_or(symbol);
    for file in files_containing_symbol(channel, symbol).await? {
        let Some(index) = file.service.iter().position(|s| s.name() == service_name) else {
            continue;
        };
        // Path [6, index] is "service number `index`" in the descriptor's source info.
        let comments = file
            .source_code_info
            .iter()
            .flat_map(|info| &info.location)
            .find(|location| location.path == [6, index as i32])
            .and_then(|location| location.leading_comments.clone())
            .unwrap_or_default();
        return Ok(comments);
    }
    anyhow::bail!("no file served by reflection defines {symbol}")
}

/// The files reflection v1 serves for `symbol` (its file first, then what that imports).
pub async fn files_containing_symbol(
    channel: Channel,
    symbol: &str,
) -> anyhow::Result<Vec<prost_types::FileDescriptorProto>> {
    use v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(symbol.to_owned())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    let response = responses
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("no reflection answer"))??;
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        anyhow::bail!("symbol {symbol} not found by reflection");
    };
    files
        .file_descriptor_proto
        .iter()
        .map(|encoded| {
            Ok(prost_types::FileDescriptorProto::decode(
                encoded.as_slice(),
            )?)
        })
        .collect()
}
