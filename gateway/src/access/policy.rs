//! Who may call what: one access rule for every public RPC the gateway forwards.
//!
//! A rule names the role a call needs and the request fields that say on which project: the
//! gateway reads those resource names (`projects/{project}/...`) from the request and checks the
//! caller's role there. A method without a rule is refused, so a new RPC in the contract stays
//! closed until someone decides who may call it.

use eyrie_platform::status::FieldViolation;
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
    /// At least this role on the project of every resource the request names.
    Project(Role),
}

/// How a request that names no project is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenAbsent {
    /// The first field is required: the call is refused as malformed.
    Refuse,
    /// An empty field means the global books (readable by all, written by global admins).
    GlobalBook,
    /// The call needs no resource (it carries its own content, e.g. a book to validate).
    Allow,
}

/// The access rule of one RPC.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// What the caller needs.
    pub need: Need,
    /// Request fields holding resource names: name for messages, field numbers outermost first.
    pub fields: &'static [(&'static str, &'static [u32])],
    /// What an empty request (no field set) means.
    pub when_absent: WhenAbsent,
}

const fn on(role: Role, fields: &'static [(&'static str, &'static [u32])]) -> Rule {
    Rule {
        need: Need::Project(role),
        fields,
        when_absent: WhenAbsent::Refuse,
    }
}

const fn on_book(role: Role, fields: &'static [(&'static str, &'static [u32])]) -> Rule {
    Rule {
        need: Need::Project(role),
        fields,
        when_absent: WhenAbsent::GlobalBook,
    }
}

const ANY_CALLER: Rule = Rule {
    need: Need::AnyCaller,
    fields: &[],
    when_absent: WhenAbsent::Allow,
};
const GLOBAL_ADMIN: Rule = Rule {
    need: Need::GlobalAdmin,
    fields: &[],
    when_absent: WhenAbsent::Allow,
};

const NAME: &[(&str, &[u32])] = &[("name", &[1])];
const PARENT: &[(&str, &[u32])] = &[("parent", &[1])];

use Role::{Admin, Deployer, Viewer};

/// Every public RPC the gateway forwards, by gRPC path, with its rule.
pub const RULES: &[(&str, Rule)] = &[
    // Projects: created by global admins; a caller lists only the projects it holds a role on.
    ("/eyrie.v1.DeploymentService/CreateProject", GLOBAL_ADMIN),
    ("/eyrie.v1.DeploymentService/GetProject", on(Viewer, NAME)),
    ("/eyrie.v1.DeploymentService/ListProjects", ANY_CALLER),
    // A project's boundary says what its books may touch: its own admins must not widen it.
    ("/eyrie.v1.DeploymentService/UpdateProject", GLOBAL_ADMIN),
    ("/eyrie.v1.DeploymentService/CreateScope", on(Admin, PARENT)),
    ("/eyrie.v1.DeploymentService/GetScope", on(Viewer, NAME)),
    ("/eyrie.v1.DeploymentService/ListScopes", on(Viewer, PARENT)),
    (
        "/eyrie.v1.DeploymentService/CreateCluster",
        on(Admin, PARENT),
    ),
    ("/eyrie.v1.DeploymentService/GetCluster", on(Viewer, NAME)),
    (
        "/eyrie.v1.DeploymentService/ListClusters",
        on(Viewer, PARENT),
    ),
    (
        "/eyrie.v1.DeploymentService/CreateDeploymentGroup",
        on(Admin, PARENT),
    ),
    (
        "/eyrie.v1.DeploymentService/GetDeploymentGroup",
        on(Viewer, NAME),
    ),
    (
        "/eyrie.v1.DeploymentService/ListDeploymentGroups",
        on(Viewer, PARENT),
    ),
    (
        "/eyrie.v1.DeploymentService/UpdateDeploymentGroup",
        on(Admin, &[("deployment_group.name", &[1, 1])]),
    ),
    (
        "/eyrie.v1.DeploymentService/CreateDeployment",
        on(Admin, PARENT),
    ),
    (
        "/eyrie.v1.DeploymentService/GetDeployment",
        on(Viewer, NAME),
    ),
    (
        "/eyrie.v1.DeploymentService/ListDeployments",
        on(Viewer, PARENT),
    ),
    (
        "/eyrie.v1.DeploymentService/UpdateDeployment",
        on(Deployer, &[("deployment.name", &[1, 1])]),
    ),
    (
        "/eyrie.v1.DeploymentService/DeployDeployment",
        on(Deployer, NAME),
    ),
    (
        "/eyrie.v1.DeploymentService/PauseDeployment",
        on(Deployer, NAME),
    ),
    (
        "/eyrie.v1.DeploymentService/DropDeployment",
        on(Admin, NAME),
    ),
    (
        "/eyrie.v1.DeploymentService/ListOperations",
        on(Viewer, PARENT),
    ),
    ("/eyrie.v1.DeploymentService/GetOperation", on(Viewer, NAME)),
    (
        "/eyrie.v1.DeploymentService/WatchDeployments",
        on(Viewer, PARENT),
    ),
    // Books: global books (`books/{book}`, or an empty parent) are read by every caller and
    // written by global admins; a project's books follow the project's roles.
    ("/eyrie.v1.BookService/CreateBook", on_book(Admin, PARENT)),
    ("/eyrie.v1.BookService/GetBook", on_book(Viewer, NAME)),
    ("/eyrie.v1.BookService/ListBooks", on_book(Viewer, PARENT)),
    (
        "/eyrie.v1.BookService/UpdateBook",
        on(Admin, &[("book.name", &[1, 1])]),
    ),
    ("/eyrie.v1.BookService/ValidateBook", ANY_CALLER),
    (
        "/eyrie.v1.BookService/RenderBook",
        Rule {
            need: Need::Project(Viewer),
            fields: &[("name", &[1]), ("deployment", &[3])],
            when_absent: WhenAbsent::Allow,
        },
    ),
    ("/eyrie.v1.BookService/ExportBook", on_book(Viewer, NAME)),
    // Jobs belong to the deployment in their name.
    ("/eyrie.v1.JobService/GetJob", on(Viewer, NAME)),
    ("/eyrie.v1.JobService/ListJobs", on(Viewer, PARENT)),
    ("/eyrie.v1.JobService/CancelJob", on(Deployer, NAME)),
    // The floor: a retry also needs the role of the job's action (admin for a drop job), which
    // `access::retry` checks once it has read the job.
    ("/eyrie.v1.JobService/RetryJob", on(Deployer, NAME)),
    (
        "/eyrie.v1.JobService/GetJobStepLog",
        on(Viewer, &[("job", &[1])]),
    ),
    ("/eyrie.v1.JobService/WatchJob", on(Viewer, NAME)),
    // Versions belong to their deployment.
    ("/eyrie.v1.VersionService/ListVersions", on(Viewer, PARENT)),
    ("/eyrie.v1.VersionService/GetVersion", on(Viewer, NAME)),
    (
        "/eyrie.v1.VersionService/DiffVersions",
        on(Viewer, &[("from", &[1]), ("to", &[2])]),
    ),
];

/// The rule of the RPC at `path` (`/package.Service/Method`), if it has one.
pub fn rule(path: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|(rpc, _)| *rpc == path)
        .map(|(_, rule)| rule)
}

/// What a resource name says about access.
enum Owner<'a> {
    /// A project's resource, by slug (`-` for "every project").
    Project(&'a str),
    /// A global book.
    GlobalBooks,
}

fn owner(name: &str) -> Option<Owner<'_>> {
    if name.starts_with("books/") {
        return Some(Owner::GlobalBooks);
    }
    let rest = name.strip_prefix("projects/")?;
    let slug = rest.split('/').next().unwrap_or_default();
    (!slug.is_empty()).then_some(Owner::Project(slug))
}

/// Decides whether `grants` may make the call whose first request message is `message`.
///
/// Global admins pass without the request being read: the service then reports a malformed
/// name itself, with its own precise message.
pub fn authorize(method: &str, rule: &Rule, grants: &Grants, message: &[u8]) -> Result<(), Status> {
    if grants.is_global_admin() {
        return Ok(());
    }
    let role = match rule.need {
        Need::AnyCaller => return Ok(()),
        Need::GlobalAdmin => {
            return Err(Status::permission_denied(format!(
                "{method} needs a global admin token"
            )));
        }
        Need::Project(role) => role,
    };
    let mut named_any = false;
    for (field, path) in rule.fields {
        let name = wire::string_at(message, path)
            .map_err(|err| Status::invalid_argument(err.to_string()))?
            .unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        named_any = true;
        match owner(name) {
            Some(Owner::Project(slug)) => require(grants, slug, role, method)?,
            Some(Owner::GlobalBooks) => require_global_book(role, method)?,
            None => {
                return Err(eyrie_platform::status::invalid_argument(&[
                    FieldViolation::new(*field, "must be a resource name under projects/{project}"),
                ]));
            }
        }
    }
    match (named_any, rule.when_absent) {
        (true, _) | (false, WhenAbsent::Allow) => Ok(()),
        (false, WhenAbsent::GlobalBook) => require_global_book(role, method),
        (false, WhenAbsent::Refuse) => {
            let field = rule.fields.first().map_or("name", |(field, _)| *field);
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

fn require_global_book(role: Role, method: &str) -> Result<(), Status> {
    if role == Role::Viewer {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "{method} on a global book needs a global admin token"
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use eyrie_proto::v1 as pb;
    use prost::Message as _;
    use tonic::Code;

    use super::*;

    /// Every method of every public service forwarded by the gateway.
    fn public_methods() -> BTreeSet<String> {
        let set = prost_types::FileDescriptorSet::decode(eyrie_proto::PUBLIC_FILE_DESCRIPTOR_SET)
            .unwrap();
        set.file
            .iter()
            .filter(|file| file.package() == "eyrie.v1")
            .flat_map(|file| {
                file.service
                    .iter()
                    .filter(|service| service.name() != "AccessService")
                    .flat_map(move |service| {
                        service.method.iter().map(move |method| {
                            format!("/{}.{}/{}", file.package(), service.name(), method.name())
                        })
                    })
            })
            .collect()
    }

    #[test]
    fn every_forwarded_rpc_has_exactly_one_rule() {
        let ruled: BTreeSet<String> = RULES.iter().map(|(rpc, _)| (*rpc).to_owned()).collect();
        assert_eq!(ruled.len(), RULES.len(), "a method is listed twice");
        assert_eq!(ruled, public_methods());
    }

    fn check(method: &str, grants: &Grants, message: &impl prost::Message) -> Result<(), Code> {
        let rule = rule(method).unwrap();
        authorize(method, rule, grants, &message.encode_to_vec()).map_err(|s| s.code())
    }

    #[test]
    fn nested_names_and_global_books_are_judged_by_their_owner() {
        let deployer = Grants::roles([("acme", Role::Deployer)]);
        let update = pb::UpdateDeploymentRequest {
            deployment: Some(pb::Deployment {
                name: "projects/acme/groups/web/deployments/shop".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let path = "/eyrie.v1.DeploymentService/UpdateDeployment";
        assert_eq!(check(path, &deployer, &update), Ok(()));
        let other = Grants::roles([("other", Role::Admin)]);
        assert_eq!(check(path, &other, &update), Err(Code::PermissionDenied));

        let global = pb::GetBookRequest {
            name: "books/odoo-deploy".into(),
        };
        assert_eq!(
            check("/eyrie.v1.BookService/GetBook", &other, &global),
            Ok(())
        );
        let create_global = pb::CreateBookRequest {
            book_id: "mine".into(),
            ..Default::default()
        };
        assert_eq!(
            check("/eyrie.v1.BookService/CreateBook", &other, &create_global),
            Err(Code::PermissionDenied)
        );
    }

    #[test]
    fn every_named_resource_is_checked_and_missing_names_are_refused() {
        let viewer = Grants::roles([("acme", Role::Viewer)]);
        let diff = pb::DiffVersionsRequest {
            from: "projects/acme/groups/g/deployments/d/versions/1".into(),
            to: "projects/secret/groups/g/deployments/d/versions/1".into(),
        };
        assert_eq!(
            check("/eyrie.v1.VersionService/DiffVersions", &viewer, &diff),
            Err(Code::PermissionDenied)
        );
        assert_eq!(
            check(
                "/eyrie.v1.JobService/GetJob",
                &viewer,
                &pb::GetJobRequest::default()
            ),
            Err(Code::InvalidArgument)
        );
        let across = pb::ListJobsRequest {
            parent: "projects/-/groups/-/deployments/-".into(),
            ..Default::default()
        };
        assert_eq!(
            check("/eyrie.v1.JobService/ListJobs", &viewer, &across),
            Err(Code::PermissionDenied)
        );
    }
}
