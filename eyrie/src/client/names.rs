//! Resource names given on the command line, checked before any call.
//!
//! Each function is a clap value parser: a malformed name is a usage error that names the expected
//! shape, instead of a round trip that ends in INVALID_ARGUMENT.

/// Shapes of the resource names, `*` standing for one id.
const PROJECT: &[&str] = &["projects", "*"];
const SCOPE: &[&str] = &["projects", "*", "scopes", "*"];
const CLUSTER: &[&str] = &["projects", "*", "clusters", "*"];
const GROUP: &[&str] = &["projects", "*", "groups", "*"];
const DEPLOYMENT: &[&str] = &["projects", "*", "groups", "*", "deployments", "*"];
const JOB: &[&str] = &[
    "projects",
    "*",
    "groups",
    "*",
    "deployments",
    "*",
    "jobs",
    "*",
];
const GLOBAL_BOOK: &[&str] = &["books", "*"];
const PROJECT_BOOK: &[&str] = &["projects", "*", "books", "*"];

/// A project: `projects/{project}`, or just `{project}`.
pub fn project(input: &str) -> Result<String, String> {
    if !input.contains('/') && !input.is_empty() {
        return Ok(format!("projects/{input}"));
    }
    expect(input, &[PROJECT])
}

/// A scope: `projects/{project}/scopes/{scope}`.
pub fn scope(input: &str) -> Result<String, String> {
    expect(input, &[SCOPE])
}

/// A cluster: `projects/{project}/clusters/{cluster}`.
pub fn cluster(input: &str) -> Result<String, String> {
    expect(input, &[CLUSTER])
}

/// A scope in the project of the resource it is given for: `{scope}`, resolved later with
/// [`in_project`], or `projects/{project}/scopes/{scope}`.
pub fn scope_or_id(input: &str) -> Result<String, String> {
    id_or(input, scope)
}

/// A cluster in the project of the resource it is given for: `{cluster}`, resolved later with
/// [`in_project`], or `projects/{project}/clusters/{cluster}`.
pub fn cluster_or_id(input: &str) -> Result<String, String> {
    id_or(input, cluster)
}

fn id_or(input: &str, full: fn(&str) -> Result<String, String>) -> Result<String, String> {
    if !input.is_empty() && !input.contains('/') {
        return Ok(input.to_owned());
    }
    full(input).map_err(|err| format!("{err}, or just the id within the project"))
}

/// `value` as a name: a bare id becomes `projects/{project}/{collection}/{id}`, with the project
/// of `resource` (a name under `projects/{project}/`); a full name is kept.
pub fn in_project(resource: &str, collection: &str, value: String) -> String {
    if value.contains('/') {
        return value;
    }
    let project = resource.split('/').nth(1).unwrap_or_default();
    format!("projects/{project}/{collection}/{value}")
}

/// A deployment group: `projects/{project}/groups/{group}`.
pub fn group(input: &str) -> Result<String, String> {
    expect(input, &[GROUP])
}

/// A deployment: `projects/{project}/groups/{group}/deployments/{deployment}`.
pub fn deployment(input: &str) -> Result<String, String> {
    expect(input, &[DEPLOYMENT])
}

/// A job: `.../deployments/{deployment}/jobs/{job}`.
pub fn job(input: &str) -> Result<String, String> {
    expect(input, &[JOB])
}

/// A book: `books/{book}` or `projects/{project}/books/{book}`.
pub fn book(input: &str) -> Result<String, String> {
    expect(input, &[GLOBAL_BOOK, PROJECT_BOOK])
}

/// Where jobs are listed: a deployment, or a group or project (every deployment in it, which
/// ListJobs spells with `-`).
pub fn job_parent(input: &str) -> Result<String, String> {
    let name = expect(input, &[DEPLOYMENT, GROUP, PROJECT])?;
    Ok(match name.split('/').count() {
        2 => format!("{name}/groups/-/deployments/-"),
        4 => format!("{name}/deployments/-"),
        _ => name,
    })
}

/// Splits a name into its parent and its last id: `projects/acme/scopes/dev` gives
/// (`projects/acme`, `dev`), `books/x` gives (``, `x`).
pub fn split_parent(name: &str) -> (&str, &str) {
    let (collection_path, id) = name.rsplit_once('/').unwrap_or(("", name));
    let parent = collection_path
        .rsplit_once('/')
        .map_or("", |(parent, _collection)| parent);
    (parent, id)
}

/// Accepts `input` when it matches one of `shapes` segment by segment.
fn expect(input: &str, shapes: &[&[&str]]) -> Result<String, String> {
    let input = input.trim_end_matches('/');
    let segments: Vec<&str> = input.split('/').collect();
    let matches = |shape: &&[&str]| {
        shape.len() == segments.len()
            && shape
                .iter()
                .zip(&segments)
                .all(|(want, got)| !got.is_empty() && (*want == "*" || want == got))
    };
    if shapes.iter().any(matches) {
        return Ok(input.to_owned());
    }
    let expected: Vec<String> = shapes.iter().map(|shape| describe(shape)).collect();
    Err(format!("expected {}", expected.join(" or ")))
}

/// `projects/{project}/scopes/{scope}` for the scope shape.
fn describe(shape: &[&str]) -> String {
    shape
        .chunks(2)
        .map(|pair| {
            let collection = pair[0];
            let singular = collection.strip_suffix('s').unwrap_or(collection);
            format!("{collection}/{{{singular}}}")
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_right_shape_pass_and_others_say_what_was_expected() {
        assert_eq!(project("acme").unwrap(), "projects/acme");
        assert_eq!(project("projects/acme").unwrap(), "projects/acme");
        assert_eq!(
            deployment("projects/a/groups/g/deployments/d/").unwrap(),
            "projects/a/groups/g/deployments/d"
        );
        assert_eq!(
            deployment("projects/a/groups/g").unwrap_err(),
            "expected projects/{project}/groups/{group}/deployments/{deployment}"
        );
        assert!(scope("projects//scopes/dev").is_err());
        assert!(scope("projects/a/clusters/dev").is_err());
        assert_eq!(book("books/x").unwrap(), "books/x");
        assert_eq!(book("projects/a/books/x").unwrap(), "projects/a/books/x");
        assert_eq!(
            book("x").unwrap_err(),
            "expected books/{book} or projects/{project}/books/{book}"
        );
    }

    #[test]
    fn short_scope_and_cluster_ids_resolve_in_the_resources_project() {
        let deployment = "projects/acme/groups/web/deployments/shop";
        let dev = scope_or_id("dev").unwrap();
        assert_eq!(
            in_project(deployment, "scopes", dev),
            "projects/acme/scopes/dev"
        );
        let local = cluster_or_id("local").unwrap();
        assert_eq!(
            in_project(deployment, "clusters", local),
            "projects/acme/clusters/local"
        );
        let full = scope_or_id("projects/other/scopes/prod").unwrap();
        assert_eq!(
            in_project(deployment, "scopes", full),
            "projects/other/scopes/prod"
        );
        assert_eq!(
            scope_or_id("scopes/dev").unwrap_err(),
            "expected projects/{project}/scopes/{scope}, or just the id within the project"
        );
        assert!(cluster_or_id("").is_err());
    }

    #[test]
    fn job_parents_widen_to_every_deployment_below() {
        assert_eq!(
            job_parent("projects/a").unwrap(),
            "projects/a/groups/-/deployments/-"
        );
        assert_eq!(
            job_parent("projects/a/groups/g").unwrap(),
            "projects/a/groups/g/deployments/-"
        );
        assert_eq!(
            job_parent("projects/a/groups/g/deployments/d").unwrap(),
            "projects/a/groups/g/deployments/d"
        );
    }

    #[test]
    fn split_parent_separates_the_last_id() {
        assert_eq!(
            split_parent("projects/acme/scopes/dev"),
            ("projects/acme", "dev")
        );
        assert_eq!(split_parent("projects/acme"), ("", "acme"));
        assert_eq!(split_parent("books/x"), ("", "x"));
    }
}
