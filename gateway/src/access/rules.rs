//! Building the access table from the contract: the `eyrie.v1.access_rule` option of every RPC
//! in the public descriptor set (the one the gateway serves for reflection), with each field
//! name resolved to its field numbers through the request's descriptor.
//!
//! A public RPC without a rule, a rule without a role, or a rule naming a field its request does
//! not have (or one of the wrong kind) is an error, and the gateway does not start: no RPC ships
//! without a rule, and renumbering a field moves its rule with it.

use eyrie_proto::v1 as pb;
use prost_reflect::{
    DescriptorPool, ExtensionDescriptor, Kind, MessageDescriptor, MethodDescriptor,
};

use super::{
    Role,
    policy::{AccessRules, Field, InlineContent, JobActionRoles, Need, Rule, WhenUnnamed},
};

/// The full name of the method option holding an RPC's access rule.
pub const ACCESS_RULE_OPTION: &str = "eyrie.v1.access_rule";

/// The service whose backend answers `GetJob`, where a job's action is read.
const JOB_SERVICE: &str = "eyrie.v1.JobService";

/// The lifecycle RPC a job of each action ran, whose role a repeat of the job needs.
pub const DEPLOY_DEPLOYMENT: &str = "/eyrie.v1.DeploymentService/DeployDeployment";
/// See [`DEPLOY_DEPLOYMENT`].
pub const PAUSE_DEPLOYMENT: &str = "/eyrie.v1.DeploymentService/PauseDeployment";
/// See [`DEPLOY_DEPLOYMENT`].
pub const DROP_DEPLOYMENT: &str = "/eyrie.v1.DeploymentService/DropDeployment";

/// Why the access table cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The descriptor set does not decode.
    #[error("the public descriptor set does not decode: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
    /// The contract does not define the option.
    #[error("the public descriptor set does not define the option {ACCESS_RULE_OPTION}")]
    NoOption,
    /// A public RPC has no rule.
    #[error(
        "{0} has no access rule: every public RPC needs `option ({ACCESS_RULE_OPTION})` in proto/"
    )]
    Missing(String),
    /// A rule cannot be used as declared.
    #[error("the access rule of {method} {problem}")]
    Invalid {
        /// The RPC's gRPC path.
        method: String,
        /// What is wrong, naming the field or setting.
        problem: String,
    },
}

fn invalid(method: &str, problem: impl Into<String>) -> RuleError {
    RuleError::Invalid {
        method: method.to_owned(),
        problem: problem.into(),
    }
}

/// The rules of the public contract compiled into the gateway.
pub fn public() -> Result<AccessRules, RuleError> {
    from_descriptor_set(eyrie_proto::PUBLIC_FILE_DESCRIPTOR_SET)
}

/// The rules of every RPC of every service in the encoded descriptor set `bytes`.
pub fn from_descriptor_set(bytes: &[u8]) -> Result<AccessRules, RuleError> {
    let pool = DescriptorPool::decode(bytes)?;
    let option = pool
        .get_extension_by_name(ACCESS_RULE_OPTION)
        .ok_or(RuleError::NoOption)?;
    let mut rules = Vec::new();
    let mut repeat_job_actions = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let declared = declared_rule(&option, &method, &path)?;
            if declared.role_of_job_action {
                if service.full_name() != JOB_SERVICE {
                    return Err(invalid(
                        &path,
                        format!("sets role_of_job_action outside {JOB_SERVICE}"),
                    ));
                }
                repeat_job_actions.push(rules.len());
            }
            rules.push(build(&path, &method.input(), &declared)?);
        }
    }
    if !repeat_job_actions.is_empty() {
        let roles = job_action_roles(&AccessRules::new(rules.iter().cloned()))?;
        for index in repeat_job_actions {
            if let Some(rule) = rules.get_mut(index) {
                rule.job_action = Some(roles);
            }
        }
    }
    Ok(AccessRules::new(rules))
}

/// The option as declared on `method`.
fn declared_rule(
    option: &ExtensionDescriptor,
    method: &MethodDescriptor,
    path: &str,
) -> Result<pb::AccessRule, RuleError> {
    let options = method.options();
    if !options.has_extension(option) {
        return Err(RuleError::Missing(path.to_owned()));
    }
    let value = options.get_extension(option);
    value
        .as_message()
        .and_then(|message| message.transcode_to::<pb::AccessRule>().ok())
        .ok_or_else(|| invalid(path, "is not an eyrie.v1.AccessRule"))
}

/// The rule `declared` for the RPC at `path`, whose request is `input`.
fn build(
    path: &str,
    input: &MessageDescriptor,
    declared: &pb::AccessRule,
) -> Result<Rule, RuleError> {
    let need = match pb::AccessRole::try_from(declared.role) {
        Ok(pb::AccessRole::AnyCaller) => Need::AnyCaller,
        Ok(pb::AccessRole::GlobalAdmin) => Need::GlobalAdmin,
        Ok(role) => Need::Project(project_role(role).ok_or_else(|| invalid(path, "sets no role"))?),
        Err(_) => {
            return Err(invalid(
                path,
                format!("has an unknown role {}", declared.role),
            ));
        }
    };
    let resources = declared
        .resource_fields
        .iter()
        .map(|name| resolve(path, input, name, Expect::String))
        .collect::<Result<Vec<_>, _>>()?;
    if !resources.is_empty() && !matches!(need, Need::Project(_)) {
        return Err(invalid(
            path,
            "names resource_fields, which only a project role (viewer, deployer, admin) reads",
        ));
    }
    let when_unnamed = match pb::access_rule::Unnamed::try_from(declared.when_unnamed) {
        Ok(pb::access_rule::Unnamed::Refused) => WhenUnnamed::Refuse,
        Ok(pb::access_rule::Unnamed::Allowed) => WhenUnnamed::Allow,
        Ok(pb::access_rule::Unnamed::GlobalBooks) if declared.global_books => {
            WhenUnnamed::GlobalBooks
        }
        Ok(pb::access_rule::Unnamed::GlobalBooks) => {
            return Err(invalid(
                path,
                "sets when_unnamed UNNAMED_GLOBAL_BOOKS without global_books",
            ));
        }
        Err(_) => {
            return Err(invalid(
                path,
                format!("has an unknown when_unnamed {}", declared.when_unnamed),
            ));
        }
    };
    let inline_content = inline_content(path, input, declared)?;
    if declared.role_of_job_action && resources.is_empty() {
        return Err(invalid(
            path,
            "sets role_of_job_action without a resource field naming the job",
        ));
    }
    Ok(Rule {
        method: path.to_owned(),
        need,
        resources,
        when_unnamed,
        global_books: declared.global_books,
        inline_content,
        job_action: None,
    })
}

fn project_role(role: pb::AccessRole) -> Option<Role> {
    match role {
        pb::AccessRole::Viewer => Some(Role::Viewer),
        pb::AccessRole::Deployer => Some(Role::Deployer),
        pb::AccessRole::Admin => Some(Role::Admin),
        pb::AccessRole::Unspecified | pb::AccessRole::AnyCaller | pb::AccessRole::GlobalAdmin => {
            None
        }
    }
}

fn inline_content(
    path: &str,
    input: &MessageDescriptor,
    declared: &pb::AccessRule,
) -> Result<Option<InlineContent>, RuleError> {
    let role = pb::AccessRole::try_from(declared.inline_content_role)
        .ok()
        .and_then(project_role);
    match (declared.inline_content_fields.is_empty(), role) {
        (true, None) if declared.inline_content_role == 0 => Ok(None),
        (true, _) => Err(invalid(
            path,
            "sets inline_content_role without inline_content_fields",
        )),
        (false, None) => Err(invalid(
            path,
            "names inline_content_fields without a project role as inline_content_role",
        )),
        (false, Some(role)) => Ok(Some(InlineContent {
            fields: declared
                .inline_content_fields
                .iter()
                .map(|name| resolve(path, input, name, Expect::Content))
                .collect::<Result<_, _>>()?,
            role,
        })),
    }
}

/// What kind of field a rule may name.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A resource name: a string.
    String,
    /// Content: a message, string or bytes (length-delimited, so its presence can be seen).
    Content,
}

/// The field numbers of the singular field `name` (`a.b` reaches into message field `a`) of
/// `input`.
fn resolve(
    path: &str,
    input: &MessageDescriptor,
    name: &str,
    expect: Expect,
) -> Result<Field, RuleError> {
    let mut message = input.clone();
    let mut numbers = Vec::new();
    let mut segments = name.split('.').peekable();
    while let Some(segment) = segments.next() {
        let field = message.get_field_by_name(segment).ok_or_else(|| {
            invalid(
                path,
                format!(
                    "names field `{name}`, but {} has no field `{segment}`",
                    message.full_name()
                ),
            )
        })?;
        if field.is_list() || field.is_map() {
            return Err(invalid(
                path,
                format!("names field `{name}`, whose `{segment}` is repeated"),
            ));
        }
        numbers.push(field.number());
        let kind = field.kind();
        if segments.peek().is_some() {
            let Kind::Message(nested) = kind else {
                return Err(invalid(
                    path,
                    format!("names field `{name}`, whose `{segment}` is not a message"),
                ));
            };
            message = nested;
            continue;
        }
        let fits = match expect {
            Expect::String => matches!(kind, Kind::String),
            Expect::Content => matches!(kind, Kind::Message(_) | Kind::String | Kind::Bytes),
        };
        if !fits {
            let wanted = match expect {
                Expect::String => "a string (a resource name)",
                Expect::Content => "a message, string or bytes",
            };
            return Err(invalid(
                path,
                format!("names field `{name}`, which is not {wanted}"),
            ));
        }
    }
    Ok(Field {
        name: name.to_owned(),
        path: numbers,
    })
}

/// The roles of the lifecycle RPCs a job's action repeats, from their own rules.
fn job_action_roles(rules: &AccessRules) -> Result<JobActionRoles, RuleError> {
    let role_of = |method: &str| match rules.rule(method).map(|rule| rule.need) {
        Some(Need::Project(role)) => Ok(role),
        _ => Err(invalid(
            method,
            "is not a project role, which repeating a job of its action (role_of_job_action) needs",
        )),
    };
    Ok(JobActionRoles {
        deploy: role_of(DEPLOY_DEPLOYMENT)?,
        pause: role_of(PAUSE_DEPLOYMENT)?,
        drop: role_of(DROP_DEPLOYMENT)?,
    })
}

#[cfg(test)]
mod tests;
