//! Who may call what: the access rule of every public RPC, and the check of one call against it.
//!
//! The rules are declared in the contract, next to each RPC (the `eyrie.v1.access_rule` method
//! option), and built into an [`AccessRules`] table at start by [`super::rules`]. A rule names the
//! role a call needs and the request fields that say on which project: the gateway reads those
//! resource names (`projects/{project}/...`) from the request and checks the caller's role there.
//! A method without a rule is refused, and the gateway does not start while one lacks a rule.

use std::{collections::HashMap, sync::Arc};

use eyrie_platform::status::FieldViolation;
use eyrie_proto::v1 as pb;
use tonic::Status;

use super::{
    roles::{Grants, Role},
    wire,
};

/// What a call needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any valid token.
    AnyCaller,
    /// A global admin token.
    GlobalAdmin,
    /// At least this role on the project of every resource the request names, or on some project
    /// when the rule names no resource fields.
    Project(Role),
}

/// How a request that names no resource is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnnamed {
    /// The first field is required: the call is refused as malformed.
    Refuse,
    /// The call is about the global books (readable by all, written by global admins).
    GlobalBooks,
    /// The call needs no resource (it carries its own content, e.g. a book to render).
    Allow,
}

/// A request field, by its name in the contract and its field numbers, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name, dotted for a nested one (`deployment.name`), as refusals name it.
    pub name: String,
    /// The field numbers leading to it, resolved from the descriptors.
    pub path: Vec<u32>,
}

/// Content a request carries for the service to evaluate (an inline book), and the role its
/// caller needs on some project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineContent {
    /// The fields carrying it; any one set requires `role`.
    pub fields: Vec<Field>,
    /// The role needed on some project.
    pub role: Role,
}

/// The roles a retry of a job needs, by the job's action: those of the action's own RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobActionRoles {
    /// What `DeployDeployment` needs.
    pub deploy: Role,
    /// What `PauseDeployment` needs.
    pub pause: Role,
    /// What `DropDeployment` needs.
    pub drop: Role,
}

impl JobActionRoles {
    /// The role to repeat a job of `action`. An action the gateway does not know (a newer
    /// contract) needs admin: the check fails closed.
    pub fn of(&self, action: pb::OperationAction) -> Role {
        match action {
            pb::OperationAction::Deploy => self.deploy,
            pb::OperationAction::Pause => self.pause,
            pb::OperationAction::Drop => self.drop,
            pb::OperationAction::Unspecified => Role::Admin,
        }
    }
}

/// The access rule of one RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The RPC's gRPC path, `/package.Service/Method`, as refusals name it.
    pub method: String,
    /// What the caller needs.
    pub need: Need,
    /// Request fields holding resource names.
    pub resources: Vec<Field>,
    /// What a request setting none of `resources` needs.
    pub when_unnamed: WhenUnnamed,
    /// Whether `resources` may name global books (`books/{book}`).
    pub global_books: bool,
    /// Content the request may carry, and what it needs.
    pub inline_content: Option<InlineContent>,
    /// Set when the call repeats the action of the job its first resource names (RetryJob): the
    /// roles each action needs, checked once the job is read (`access::retry`).
    pub job_action: Option<JobActionRoles>,
}

/// Every public RPC's rule, by gRPC path.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    rules: HashMap<String, Arc<Rule>>,
}

impl AccessRules {
    /// A table of `rules`, each under its method.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Self {
        Self {
            rules: rules
                .into_iter()
                .map(|rule| (rule.method.clone(), Arc::new(rule)))
                .collect(),
        }
    }

    /// The rule of the RPC at `path` (`/package.Service/Method`), if it has one.
    pub fn rule(&self, path: &str) -> Option<&Arc<Rule>> {
        self.rules.get(path)
    }

    /// The methods that have a rule, in no particular order.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }

    /// Checks a call to `path` with encoded request `message`; a method without a rule is
    /// refused (UNIMPLEMENTED), as the gateway serves nothing it has no rule for.
    pub fn authorize(&self, path: &str, grants: &Grants, message: &[u8]) -> Result<(), Status> {
        let rule = self.rule(path).ok_or_else(|| {
            Status::unimplemented(format!("{path} has no access rule in the gateway"))
        })?;
        authorize(rule, grants, message)
    }
}

/// What a resource name says about access.
enum Owner<'a> {
    /// A project's resource, by slug (`-` for "every project").
    Project(&'a str),
    /// A global book.
    GlobalBooks,
}

fn owner(name: &str, global_books: bool) -> Option<Owner<'_>> {
    if global_books && name.starts_with("books/") {
        return Some(Owner::GlobalBooks);
    }
    let rest = name.strip_prefix("projects/")?;
    let slug = rest.split('/').next().unwrap_or_default();
    (!slug.is_empty()).then_some(Owner::Project(slug))
}

/// Decides whether `grants` may make the call of `rule` whose first request message is
/// `message`.
///
/// Global admins pass without the request being read: the service then reports a malformed
/// name itself, with its own precise message.
pub fn authorize(rule: &Rule, grants: &Grants, message: &[u8]) -> Result<(), Status> {
    if grants.is_global_admin() {
        return Ok(());
    }
    let method = rule.method.as_str();
    match rule.need {
        Need::AnyCaller => {}
        Need::GlobalAdmin => {
            return Err(Status::permission_denied(format!(
                "{method} needs a global admin token"
            )));
        }
        Need::Project(role) if rule.resources.is_empty() => {
            require_some_project(grants, role, method)?;
        }
        Need::Project(role) => require_named(rule, role, grants, message)?,
    }
    if let Some(inline) = &rule.inline_content {
        for field in &inline.fields {
            if wire::bytes_at(message, &field.path)
                .map_err(|err| Status::invalid_argument(err.to_string()))?
                .is_some()
            {
                let call = format!("{method} with an inline `{}`", field.name);
                require_some_project(grants, inline.role, &call)?;
            }
        }
    }
    Ok(())
}

/// Requires `role` on the project of every resource `rule`'s fields name in `message`.
fn require_named(rule: &Rule, role: Role, grants: &Grants, message: &[u8]) -> Result<(), Status> {
    let method = rule.method.as_str();
    let mut named_any = false;
    for field in &rule.resources {
        let name = wire::string_at(message, &field.path)
            .map_err(|err| Status::invalid_argument(err.to_string()))?
            .unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        named_any = true;
        match owner(name, rule.global_books) {
            Some(Owner::Project(slug)) => require(grants, slug, role, method)?,
            Some(Owner::GlobalBooks) => require_global_book(role, method)?,
            None => {
                let expected = if rule.global_books {
                    "must be a resource name under projects/{project} or books/{book}"
                } else {
                    "must be a resource name under projects/{project}"
                };
                return Err(eyrie_platform::status::invalid_argument(&[
                    FieldViolation::new(field.name.clone(), expected),
                ]));
            }
        }
    }
    match (named_any, rule.when_unnamed) {
        (true, _) | (false, WhenUnnamed::Allow) => Ok(()),
        (false, WhenUnnamed::GlobalBooks) => require_global_book(role, method),
        (false, WhenUnnamed::Refuse) => {
            let field = rule
                .resources
                .first()
                .map_or_else(|| "name".to_owned(), |field| field.name.clone());
            Err(eyrie_platform::status::invalid_argument(&[
                FieldViolation::new(field, "is required"),
            ]))
        }
    }
}

fn require(grants: &Grants, slug: &str, role: Role, method: &str) -> Result<(), Status> {
    if slug != "-" && grants.allows(slug, role) {
        return Ok(());
    }
    let project = if slug == "-" {
        "every project (`-`)".to_owned()
    } else {
        format!("projects/{slug}")
    };
    Err(Status::permission_denied(format!(
        "{method} needs the {} role on {project}",
        role.name()
    )))
}

fn require_some_project(grants: &Grants, role: Role, call: &str) -> Result<(), Status> {
    if grants.holds_anywhere(role) {
        return Ok(());
    }
    Err(Status::permission_denied(format!(
        "{call} needs the {} role on some project, or a global admin token",
        role.name()
    )))
}

fn require_global_book(role: Role, method: &str) -> Result<(), Status> {
    if role == Role::Viewer {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "{method} on a global book needs a global admin token"
        )))
    }
}
