//! The gateway's own public service: API tokens.

use std::sync::Arc;

use eyrie_platform::time::to_timestamp as timestamp;
use eyrie_platform::{
    paging::{decode_for, encode_for, page_size},
    status::{self, FieldViolation},
};
use eyrie_proto::v1::{
    self as pb, CreateTokenRequest, CreateTokenResponse, GetTokenRequest, ListTokensRequest,
    ListTokensResponse, RevokeTokenRequest, WhoAmIRequest, WhoAmIResponse,
    access_service_server::AccessService,
};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::{
    access::AccessRules,
    auth::Caller,
    bootstrap::generate_token,
    store::{Created, NewToken, Revoked, StoredToken, TokenStore},
};

/// `eyrie.v1.AccessService`: who the caller is, and (for global admins) token management.
#[derive(Debug, Clone)]
pub struct AccessGrpc {
    tokens: TokenStore,
    rules: Arc<AccessRules>,
}

impl AccessGrpc {
    /// Serves the tokens of `tokens` to the callers `rules` let through.
    pub fn new(tokens: TokenStore, rules: Arc<AccessRules>) -> Self {
        Self { tokens, rules }
    }

    /// The caller of `request` to `method`, once the rule the contract gives `method` lets it
    /// through.
    fn authorized<T: Message>(&self, method: &str, request: &Request<T>) -> Result<Caller, Status> {
        let caller = caller(request)?;
        self.rules
            .authorize(method, &caller.grants(), &request.get_ref().encode_to_vec())?;
        Ok(caller)
    }
}

const CREATE_TOKEN: &str = "/eyrie.v1.AccessService/CreateToken";
const LIST_TOKENS: &str = "/eyrie.v1.AccessService/ListTokens";
const GET_TOKEN: &str = "/eyrie.v1.AccessService/GetToken";
const REVOKE_TOKEN: &str = "/eyrie.v1.AccessService/RevokeToken";
const WHO_AM_I: &str = "/eyrie.v1.AccessService/WhoAmI";

fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no authenticated caller"))
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

/// Longest display name of a token (the contract's limit).
const MAX_DISPLAY_NAME_LEN: usize = 200;

/// The token a CreateToken request asks for, or every field it gets wrong.
fn new_token(request: CreateTokenRequest) -> Result<NewToken, Status> {
    let generated_id = request.token_id.is_empty();
    let id = if generated_id {
        uuid::Uuid::new_v4().simple().to_string()
    } else {
        request.token_id
    };
    let mut violations = Vec::new();
    if let Err(violation) = eyrie_platform::names::validate_slug("token_id", &id) {
        violations.push(violation);
    }
    let request_id = request.request_id;
    if let Err(violation) = eyrie_platform::names::validate_request_id("request_id", &request_id) {
        violations.push(violation);
    }
    let token = request.token.unwrap_or_default();
    if token.display_name.chars().count() > MAX_DISPLAY_NAME_LEN {
        violations.push(FieldViolation::new(
            "token.display_name",
            format!("must be at most {MAX_DISPLAY_NAME_LEN} characters"),
        ));
    } else if token.display_name.chars().any(char::is_control) {
        // Printed by `eyrie token` and the console: no terminal escapes.
        violations.push(FieldViolation::new(
            "token.display_name",
            "must not contain control characters",
        ));
    }
    let mut bindings: Vec<(String, String)> = Vec::new();
    for (index, binding) in token.role_bindings.iter().enumerate() {
        let project = &binding.project;
        if eyrie_platform::names::validate_slug(
            "project",
            project.strip_prefix("projects/").unwrap_or_default(),
        )
        .is_err()
        {
            violations.push(FieldViolation::new(
                format!("token.role_bindings[{index}].project"),
                "must be projects/{project}",
            ));
        } else if bindings.iter().any(|(bound, _)| bound == project) {
            violations.push(FieldViolation::new(
                format!("token.role_bindings[{index}].project"),
                format!("{project} is bound twice: a token holds one role per project"),
            ));
        }
        match binding.role() {
            pb::Role::Unspecified => violations.push(FieldViolation::new(
                format!("token.role_bindings[{index}].role"),
                "is required",
            )),
            role => bindings.push((
                project.clone(),
                role.as_str_name()
                    .trim_start_matches("ROLE_")
                    .to_lowercase(),
            )),
        }
    }
    if !violations.is_empty() {
        return Err(status::invalid_argument(&violations));
    }
    Ok(NewToken {
        id,
        display_name: token.display_name,
        global_admin: token.global_admin,
        bindings,
        generated_id,
        request_id: Some(request_id).filter(|id| !id.is_empty()),
    })
}

#[tonic::async_trait]
impl AccessService for AccessGrpc {
    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIResponse>, Status> {
        let caller = self.authorized(WHO_AM_I, &request)?;
        Ok(Response::new(WhoAmIResponse {
            token: Some(to_proto(&caller.0)),
        }))
    }

    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        self.authorized(CREATE_TOKEN, &request)?;
        let request = request.into_inner();
        let new = new_token(request)?;
        let secret = generate_token();
        let created = self
            .tokens
            .create(&new, &secret)
            .await
            .map_err(|err| status::store(&err.into()))?;
        match created {
            Created::New(stored) => Ok(Response::new(CreateTokenResponse {
                token: Some(to_proto(&stored)),
                secret,
            })),
            // Only the hash was kept: a secret is shown once, so a retry gets the token alone.
            Created::Replayed(stored) => Ok(Response::new(CreateTokenResponse {
                token: Some(to_proto(&stored)),
                secret: String::new(),
            })),
            Created::IdTaken => Err(status::already_exists(
                "token",
                &format!("tokens/{}", new.id),
            )),
            Created::RequestIdReused(first) => {
                Err(status::invalid_argument(&[FieldViolation::new(
                    "request_id",
                    format!(
                        "was already used by a CreateToken call that created {first} with other fields; use a new id for a new request"
                    ),
                )]))
            }
        }
    }

    async fn list_tokens(
        &self,
        request: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        self.authorized(LIST_TOKENS, &request)?;
        let request = request.into_inner();
        let limit = page_size(request.page_size).map_err(|v| status::invalid_argument(&[v]))?;
        // A page token belongs to one list: with or without the revoked tokens.
        let list = format!("tokens?show_revoked={}", request.show_revoked);
        let after: Option<String> =
            decode_for(&list, &request.page_token).map_err(|v| status::invalid_argument(&[v]))?;
        let mut tokens = self
            .tokens
            .list(after.as_deref(), limit + 1, request.show_revoked)
            .await
            .map_err(|err| status::store(&err.into()))?;
        let more = tokens.len() as u64 > limit;
        tokens.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_page_token = match tokens.last() {
            Some(last) if more => encode_for(&list, &last.token.id),
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
        let caller = self.authorized(GET_TOKEN, &request)?;
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
            .map_err(|err| status::store(&err.into()))?;
        stored
            .map(|stored| Response::new(to_proto(&stored)))
            .ok_or_else(|| status::not_found("token", &format!("tokens/{id}")))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let caller = self.authorized(REVOKE_TOKEN, &request)?;
        let id = token_id("name", &request.get_ref().name)?;
        let name = format!("tokens/{id}");
        let revoked = self
            .tokens
            .revoke(&id, &caller.0.token.id)
            .await
            .map_err(|err| status::store(&err.into()))?;
        match revoked {
            Revoked::Done(stored) => Ok(Response::new(to_proto(&stored))),
            Revoked::NotFound => Err(status::not_found("token", &name)),
            Revoked::LastGlobalAdmin => Err(status::failed_precondition(
                "LAST_GLOBAL_ADMIN",
                &name,
                format!(
                    "{name} is the last live global admin token: revoking it would leave nobody able to manage tokens and projects; create another global admin token first"
                ),
            )),
            Revoked::OwnToken => Err(status::failed_precondition(
                "OWN_TOKEN",
                &name,
                format!(
                    "{name} is the token this call is made with: revoking it would lock its holder out; revoke it with another global admin token"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_fields(request: CreateTokenRequest) -> Vec<String> {
        let Err(status) = new_token(request) else {
            panic!("the request was accepted");
        };
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        status::violated_fields(&status)
    }

    #[test]
    fn a_token_request_is_checked_field_by_field() {
        let named = |display_name: &str, request_id: &str| CreateTokenRequest {
            token_id: "ci".into(),
            token: Some(pb::Token {
                display_name: display_name.into(),
                ..Default::default()
            }),
            request_id: request_id.into(),
        };
        assert!(new_token(named("CI pipeline", "req-1")).is_ok());
        assert_eq!(
            refused_fields(named("\u{1b}[2Jgone", "")),
            ["token.display_name"]
        );
        assert_eq!(
            refused_fields(named(&"x".repeat(201), "")),
            ["token.display_name"]
        );
        assert_eq!(refused_fields(named("ok", "has space")), ["request_id"]);
    }
}
