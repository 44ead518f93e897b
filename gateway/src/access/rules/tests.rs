use std::{collections::BTreeSet, path::Path};

use eyrie_proto::v1 as pb;
use prost::Message as _;
use tonic::Code;

use super::*;
use crate::access::Grants;

/// Every method of every service in the public contract (the gateway's own AccessService too).
fn public_methods() -> BTreeSet<String> {
    let set =
        prost_types::FileDescriptorSet::decode(eyrie_proto::PUBLIC_FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .flat_map(|file| {
            file.service.iter().flat_map(move |service| {
                service.method.iter().map(move |method| {
                    format!("/{}.{}/{}", file.package(), service.name(), method.name())
                })
            })
        })
        .collect()
}

#[test]
fn every_public_rpc_has_exactly_one_rule_from_the_contract() {
    let rules = public().expect("every public RPC declares a usable access rule");
    let ruled: BTreeSet<String> = rules.methods().map(str::to_owned).collect();
    let methods = public_methods();
    assert!(methods.len() > 40, "{methods:?}");
    assert_eq!(ruled, methods);
}

/// Compiles `things.proto` (package `test.v1`, which may import the real contract) into an
/// encoded descriptor set that keeps its options, as proto/build.rs does.
fn compile(source: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("things.proto"), source).unwrap();
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let mut compiler = protox::Compiler::new([dir.path(), contracts.as_path()]).unwrap();
    compiler.include_imports(true);
    compiler.open_file("things.proto").unwrap();
    compiler.encode_file_descriptor_set()
}

const HEADER: &str = r#"
syntax = "proto3";
package test.v1;
import "eyrie/v1/access_rule.proto";
message Thing { string name = 1; int32 size = 2; }
"#;

fn things(request: &str, rules: &str) -> Vec<u8> {
    compile(&format!(
        "{HEADER}\nmessage GetThingRequest {{ {request} }}\n\
         service Things {{ {rules} }}"
    ))
}

fn error_of(bytes: &[u8]) -> String {
    from_descriptor_set(bytes).unwrap_err().to_string()
}

#[test]
fn an_rpc_without_a_rule_stops_the_gateway() {
    let bytes = things(
        "string name = 1;",
        r#"rpc GetThing(GetThingRequest) returns (Thing) {
             option (eyrie.v1.access_rule) = {role: ACCESS_ROLE_VIEWER, resource_fields: "name"};
           }
           rpc ForgotIt(GetThingRequest) returns (Thing);"#,
    );
    let error = from_descriptor_set(&bytes).unwrap_err();
    assert!(
        matches!(&error, RuleError::Missing(method) if method == "/test.v1.Things/ForgotIt"),
        "{error}"
    );
}

#[test]
fn a_rule_without_a_role_is_refused() {
    let bytes = things(
        "string name = 1;",
        r#"rpc GetThing(GetThingRequest) returns (Thing) {
             option (eyrie.v1.access_rule) = {resource_fields: "name"};
           }"#,
    );
    assert!(error_of(&bytes).contains("/test.v1.Things/GetThing sets no role"));
}

#[test]
fn a_rule_naming_a_field_the_request_lacks_or_of_the_wrong_kind_is_refused() {
    let cases = [
        (
            "string name = 1;",
            "nmae",
            "test.v1.GetThingRequest has no field `nmae`",
        ),
        (
            "Thing thing = 1;",
            "thing.nmae",
            "test.v1.Thing has no field `nmae`",
        ),
        (
            "Thing thing = 1;",
            "thing.size",
            "`thing.size`, which is not a string",
        ),
        (
            "string name = 1;",
            "name.inner",
            "`name.inner`, whose `name` is not a message",
        ),
        (
            "repeated string names = 1;",
            "names",
            "whose `names` is repeated",
        ),
    ];
    for (request, field, expected) in cases {
        let rule = format!(
            r#"rpc GetThing(GetThingRequest) returns (Thing) {{
                 option (eyrie.v1.access_rule) = {{role: ACCESS_ROLE_VIEWER, resource_fields: "{field}"}};
               }}"#
        );
        let error = error_of(&things(request, &rule));
        assert!(
            error.contains("/test.v1.Things/GetThing") && error.contains(expected),
            "{field}: {error}"
        );
    }
}

#[test]
fn inconsistent_settings_are_refused() {
    let cases = [
        (
            r#"role: ACCESS_ROLE_ANY_CALLER, resource_fields: "name""#,
            "only a project role",
        ),
        (
            r#"role: ACCESS_ROLE_VIEWER, resource_fields: "name", when_unnamed: UNNAMED_GLOBAL_BOOKS"#,
            "without global_books",
        ),
        (
            r#"role: ACCESS_ROLE_VIEWER, inline_content_fields: "name""#,
            "without a project role as inline_content_role",
        ),
        (
            r#"role: ACCESS_ROLE_VIEWER, role_of_job_action: true, resource_fields: "name""#,
            "role_of_job_action outside eyrie.v1.JobService",
        ),
    ];
    for (rule, expected) in cases {
        let rpc = format!(
            "rpc GetThing(GetThingRequest) returns (Thing) {{ option (eyrie.v1.access_rule) = {{{rule}}}; }}"
        );
        let error = error_of(&things("string name = 1;", &rpc));
        assert!(error.contains(expected), "{rule}: {error}");
    }
}

#[test]
fn a_renumbered_field_moves_its_rule_with_it() {
    // `name` is field 7 here, and field 1 is another string: the rule follows the name.
    let bytes = things(
        "string decoy = 1; string name = 7;",
        r#"rpc GetThing(GetThingRequest) returns (Thing) {
             option (eyrie.v1.access_rule) = {role: ACCESS_ROLE_ADMIN, resource_fields: "name"};
           }"#,
    );
    let rules = from_descriptor_set(&bytes).unwrap();
    let rule = rules.rule("/test.v1.Things/GetThing").unwrap();
    assert_eq!(rule.resources[0].path, [7]);

    // field 1 "projects/acme" (the decoy), field 7 "projects/other".
    let mut message = vec![0x0a, 13];
    message.extend_from_slice(b"projects/acme");
    message.extend_from_slice(&[0x3a, 14]);
    message.extend_from_slice(b"projects/other");
    let admin_of_acme = Grants::roles([("acme", Role::Admin)]);
    let refused = rules
        .authorize("/test.v1.Things/GetThing", &admin_of_acme, &message)
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(refused.message().contains("admin role on projects/other"));
}

fn check(method: &str, grants: &Grants, message: &impl prost::Message) -> Result<(), Code> {
    let rules = public().unwrap();
    rules
        .authorize(method, grants, &message.encode_to_vec())
        .map_err(|status| status.code())
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
    // Only book rules know global books: elsewhere `books/...` is no project's resource.
    let not_a_deployment = pb::GetDeploymentRequest {
        name: "books/odoo-deploy".into(),
    };
    assert_eq!(
        check(
            "/eyrie.v1.DeploymentService/GetDeployment",
            &other,
            &not_a_deployment
        ),
        Err(Code::InvalidArgument)
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
    let rules = public().unwrap();
    let missing = rules
        .authorize(
            "/eyrie.v1.DeploymentService/UpdateDeploymentGroup",
            &viewer,
            &pb::UpdateDeploymentGroupRequest::default().encode_to_vec(),
        )
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(
        missing.message().contains("deployment_group.name"),
        "{}",
        missing.message()
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

#[test]
fn clusters_are_created_by_global_admins_only() {
    let create = pb::CreateClusterRequest {
        parent: "projects/acme".into(),
        ..Default::default()
    };
    let path = "/eyrie.v1.DeploymentService/CreateCluster";
    let admin = Grants::roles([("acme", Role::Admin)]);
    assert_eq!(check(path, &admin, &create), Err(Code::PermissionDenied));
    assert_eq!(check(path, &Grants::global_admin(), &create), Ok(()));
    // Projects still read the clusters granted to them.
    let viewer = Grants::roles([("acme", Role::Viewer)]);
    let get = pb::GetClusterRequest {
        name: "projects/acme/clusters/local".into(),
    };
    assert_eq!(
        check("/eyrie.v1.DeploymentService/GetCluster", &viewer, &get),
        Ok(())
    );
}

fn inline_book() -> Option<pb::render_book_request::BookRef> {
    Some(pb::render_book_request::BookRef::Book(pb::Book::default()))
}

#[test]
fn inline_books_need_a_deployer_somewhere() {
    let validate = pb::ValidateBookRequest {
        content: Some(pb::validate_book_request::Content::Book(pb::Book::default())),
    };
    let path = "/eyrie.v1.BookService/ValidateBook";
    let viewer = Grants::roles([("acme", Role::Viewer)]);
    let deployer_elsewhere = Grants::roles([("other", Role::Deployer)]);
    let rules = public().unwrap();
    let refused = rules
        .authorize(path, &viewer, &validate.encode_to_vec())
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("deployer role on some project"),
        "{}",
        refused.message()
    );
    assert_eq!(
        check(path, &Grants::default(), &validate),
        Err(Code::PermissionDenied)
    );
    assert_eq!(check(path, &deployer_elsewhere, &validate), Ok(()));

    let render = "/eyrie.v1.BookService/RenderBook";
    let inline = pb::RenderBookRequest {
        book_ref: inline_book(),
        target: Some(pb::render_book_request::Target::Snapshot(
            pb::DeploymentSnapshot::default(),
        )),
        ..Default::default()
    };
    let refused = rules
        .authorize(render, &viewer, &inline.encode_to_vec())
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("inline `book`"),
        "{}",
        refused.message()
    );
    assert_eq!(check(render, &deployer_elsewhere, &inline), Ok(()));

    // An inline book rendered for a deployment: viewer there, and deployer somewhere.
    let for_shop = pb::RenderBookRequest {
        book_ref: inline_book(),
        target: Some(pb::render_book_request::Target::Deployment(
            "projects/acme/groups/web/deployments/shop".into(),
        )),
        ..Default::default()
    };
    assert_eq!(
        check(render, &viewer, &for_shop),
        Err(Code::PermissionDenied)
    );
    assert_eq!(
        check(render, &deployer_elsewhere, &for_shop),
        Err(Code::PermissionDenied)
    );
    let both = Grants::roles([("acme", Role::Viewer), ("other", Role::Deployer)]);
    assert_eq!(check(render, &both, &for_shop), Ok(()));

    // A stored book still needs only viewer, on the book's and the deployment's project.
    let stored = pb::RenderBookRequest {
        book_ref: Some(pb::render_book_request::BookRef::Name(
            "books/none-deploy".into(),
        )),
        target: Some(pb::render_book_request::Target::Deployment(
            "projects/acme/groups/web/deployments/shop".into(),
        )),
        ..Default::default()
    };
    assert_eq!(check(render, &viewer, &stored), Ok(()));
    assert_eq!(
        check(render, &deployer_elsewhere, &stored),
        Err(Code::PermissionDenied)
    );
}
