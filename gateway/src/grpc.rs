//! The gateway's own public service: API tokens.

use eyrie_platform::time::to_timestamp as timestamp;
use eyrie_platform::{
    paging::{decode_token, encode_token, page_size},
    status::{self, FieldViolation},
};
use eyrie_proto::v1::{
    self as pb, CreateTokenRequest, CreateTokenResponse, GetTokenRequest, ListTokensRequest,
    ListTokensResponse, RevokeTokenRequest, WhoAmIRequest, WhoAmIResponse,
    access_service_server::AccessService,
};
use tonic::{Request, Response, Status};

use crate::{
    auth::Caller,
    bootstrap::generate_token,
    store::{NewToken, StoredToken, TokenStore},
};

/// `eyrie.v1.AccessService`: who the caller is, and (for global admins) token management.
#[derive(Debug, Clone)]
pub struct AccessGrpc {
    tokens: TokenStore,
}

impl AccessGrpc {
    /// Serves the tokens of `tokens`.
    pub fn new(tokens: TokenStore) -> Self {
        Self { tokens }
    }
}

fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no authenticated caller"))
}

fn require_global_admin<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?;
    if caller.0.token.global_admin {
        Ok(caller)
    } else {
        Err(Status::permission_denied(format!(
            "{} is not a global admin: only global admins manage tokens",
            caller.name()
        )))
    }
}

fn to_proto(stored: &StoredToken) -> pb::Token {
    pb::Token {
        name: format!("tokens/{}", stored.token.id),
        display_name: stored.token.display_name.clone(),
        global_admin: stored.token.global_admin,
        role_bindings: stored
            .bindings
            .iter()
            .map(|(project, role)| pb::RoleBinding {
                project: project.clone(),
                role: pb::Role::from_str_name(&format!("ROLE_{}", role.to_uppercase()))
                    .unwrap_or_default()
                    .into(),
            })
            .collect(),
        create_time: Some(timestamp(stored.token.created_at)),
        revoke_time: stored.token.revoked_at.map(timestamp),
        last_used_time: stored.token.last_used_at.map(timestamp),
    }
}

fn token_id(field: &str, name: &str) -> Result<String, Status> {
    let id = name.strip_prefix("tokens/").ok_or_else(|| {
        status::invalid_argument(&[FieldViolation::new(field, "must be tokens/{token}")])
    })?;
    eyrie_platform::names::validate_slug(field, id).map_err(|v| status::invalid_argument(&[v]))?;
    Ok(id.to_owned())
}

#[tonic::async_trait]
impl AccessService for AccessGrpc {
    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(WhoAmIResponse {
            token: Some(to_proto(&caller.0)),
        }))
    }

    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        require_global_admin(&request)?;
        let request = request.into_inner();
        let id = if request.token_id.is_empty() {
            uuid::Uuid::new_v4().simple().to_string()
        } else {
            request.token_id
        };
        eyrie_platform::names::validate_slug("token_id", &id)
            .map_err(|v| status::invalid_argument(&[v]))?;
        let token = request.token.unwrap_or_default();
        let mut bindings = Vec::new();
        let mut violations = Vec::new();
        for (index, binding) in token.role_bindings.iter().enumerate() {
            if eyrie_platform::names::validate_slug(
                "project",
                binding
                    .project
                    .strip_prefix("projects/")
                    .unwrap_or_default(),
            )
            .is_err()
            {
                violations.push(FieldViolation::new(
                    format!("token.role_bindings[{index}].project"),
                    "must be projects/{project}",
                ));
            }
            match binding.role() {
                pb::Role::Unspecified => violations.push(FieldViolation::new(
                    format!("token.role_bindings[{index}].role"),
                    "is required",
                )),
                role => bindings.push((
                    binding.project.clone(),
                    role.as_str_name()
                        .trim_start_matches("ROLE_")
                        .to_lowercase(),
                )),
            }
        }
        if !violations.is_empty() {
            return Err(status::invalid_argument(&violations));
        }
        let secret = generate_token();
        let new = NewToken {
            id: id.clone(),
            display_name: token.display_name,
            global_admin: token.global_admin,
            bindings,
        };
        let stored = self
            .tokens
            .create(&new, &secret)
            .await
            .map_err(|err| status::internal(&err))?
            .ok_or_else(|| status::already_exists("token", &format!("tokens/{id}")))?;
        Ok(Response::new(CreateTokenResponse {
            token: Some(to_proto(&stored)),
            secret,
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        require_global_admin(&request)?;
        let request = request.into_inner();
        let limit = page_size(request.page_size).map_err(|v| status::invalid_argument(&[v]))?;
        let after: Option<String> =
            decode_token(&request.page_token).map_err(|v| status::invalid_argument(&[v]))?;
        let mut tokens = self
            .tokens
            .list(after.as_deref(), limit + 1, request.show_revoked)
            .await
            .map_err(|err| status::internal(&err))?;
        let more = tokens.len() as u64 > limit;
        tokens.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_page_token = match tokens.last() {
            Some(last) if more => encode_token(&last.token.id),
            _ => String::new(),
        };
        Ok(Response::new(ListTokensResponse {
            tokens: tokens.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_token(
        &self,
        request: Request<GetTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let caller = caller(&request)?;
        let id = token_id("name", &request.get_ref().name)?;
        // Anyone may read their own token; global admins read every token.
        if !caller.0.token.global_admin && caller.0.token.id != id {
            return Err(Status::permission_denied(
                "only global admins read other tokens",
            ));
        }
        let stored = self
            .tokens
            .get(&id)
            .await
            .map_err(|err| status::internal(&err))?;
        stored
            .map(|stored| Response::new(to_proto(&stored)))
            .ok_or_else(|| status::not_found("token", &format!("tokens/{id}")))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        require_global_admin(&request)?;
        let id = token_id("name", &request.get_ref().name)?;
        let stored = self
            .tokens
            .revoke(&id)
            .await
            .map_err(|err| status::internal(&err))?;
        stored
            .map(|stored| Response::new(to_proto(&stored)))
            .ok_or_else(|| status::not_found("token", &format!("tokens/{id}")))
    }
}
