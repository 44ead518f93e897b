//! Resource names given on the command line, checked before any call.
//!
//! Each function is a clap value parser: a malformed name is a usage error that names the expected
//! shape, instead of a round trip that ends in INVALID_ARGUMENT.
//!
//! Where the command says which kind of resource it wants, a short name of just the ids is taken
//! too: `shop/erp/main` for `projects/shop/groups/erp/deployments/main`. A short name is one id per
//! `{...}` of the full name, each a valid id (a DNS-1123 label, as the services check), and never
//! starts with a collection word of the full name (`projects`, `groups`, ...), which reads as a
//! full name cut short; the full name is always taken first, so `books/x` stays the global book.

use eyrie_platform::names::validate_slug;

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
    // The id alone predates short names and is left for the server to check, as before.
    if !input.contains('/') && !input.is_empty() {
        return Ok(format!("projects/{input}"));
    }
    full_or_short(input, &[PROJECT])
}

/// A scope: `projects/{project}/scopes/{scope}` or `{project}/{scope}`.
pub fn scope(input: &str) -> Result<String, String> {
    full_or_short(input, &[SCOPE])
}

/// A cluster: `projects/{project}/clusters/{cluster}` or `{project}/{cluster}`.
pub fn cluster(input: &str) -> Result<String, String> {
    full_or_short(input, &[CLUSTER])
}

/// A scope in the project of the resource it is given for: `{scope}`, resolved later with
/// [`in_project`], or a scope name in either form.
pub fn scope_or_id(input: &str) -> Result<String, String> {
    id_or(input, scope)
}

/// A cluster in the project of the resource it is given for: `{cluster}`, resolved later with
/// [`in_project`], or a cluster name in either form.
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

/// A deployment group: `projects/{project}/groups/{group}` or `{project}/{group}`.
pub fn group(input: &str) -> Result<String, String> {
    full_or_short(input, &[GROUP])
}

/// A deployment: `projects/{project}/groups/{group}/deployments/{deployment}` or
/// `{project}/{group}/{deployment}`.
pub fn deployment(input: &str) -> Result<String, String> {
    full_or_short(input, &[DEPLOYMENT])
}

/// A job: `.../deployments/{deployment}/jobs/{job}` or `{project}/{group}/{deployment}/{job}`.
pub fn job(input: &str) -> Result<String, String> {
    full_or_short(input, &[JOB])
}

/// A book: `books/{book}` or `projects/{project}/books/{book}`; short, `{book}` for a global book
/// and `{project}/{book}` for a project's.
pub fn book(input: &str) -> Result<String, String> {
    full_or_short(input, &[GLOBAL_BOOK, PROJECT_BOOK])
}

/// Where jobs are listed: a deployment, or a group or project (every deployment in it, which
/// ListJobs spells with `-`), each in either form.
pub fn job_parent(input: &str) -> Result<String, String> {
    let name = full_or_short(input, &[DEPLOYMENT, GROUP, PROJECT])?;
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

/// Accepts `input` when it matches one of `shapes` segment by segment, or when it is the short
/// form of one of them: as many ids as the shape has, each a valid id, which fill the shape in.
fn full_or_short(input: &str, shapes: &[&[&str]]) -> Result<String, String> {
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
    let expected = || {
        let full = shapes.iter().map(|shape| describe(shape));
        let short = shapes.iter().map(|shape| describe_short(shape));
        format!(
            "expected {}",
            full.chain(short).collect::<Vec<_>>().join(" or ")
        )
    };
    let reads_as_full_name = shapes.iter().any(|shape| shape.contains(&segments[0]));
    let short_shape = shapes.iter().find(|shape| ids(shape) == segments.len());
    let Some(shape) = short_shape.filter(|_| !reads_as_full_name) else {
        return Err(expected());
    };
    if let Some(violation) = segments.iter().find_map(|id| validate_slug("", id).err()) {
        return Err(format!("{}; {}", violation.description, expected()));
    }
    let mut ids = segments.iter();
    let filled: Vec<&str> = shape
        .iter()
        .map(|part| match *part {
            "*" => ids.next().copied().unwrap_or_default(),
            collection => collection,
        })
        .collect();
    Ok(filled.join("/"))
}

/// How many ids a name of `shape` holds.
fn ids(shape: &[&str]) -> usize {
    shape.iter().filter(|part| **part == "*").count()
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

/// `{project}/{scope}` for the scope shape: its ids alone.
fn describe_short(shape: &[&str]) -> String {
    shape
        .chunks(2)
        .map(|pair| {
            let collection = pair[0];
            let singular = collection.strip_suffix('s').unwrap_or(collection);
            format!("{{{singular}}}")
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
            "expected projects/{project}/groups/{group}/deployments/{deployment} \
             or {project}/{group}/{deployment}"
        );
        assert!(scope("projects//scopes/dev").is_err());
        assert!(scope("projects/a/clusters/dev").is_err());
        assert_eq!(book("books/x").unwrap(), "books/x");
        assert_eq!(book("projects/a/books/x").unwrap(), "projects/a/books/x");
        assert_eq!(
            book("projects/a/books").unwrap_err(),
            "expected books/{book} or projects/{project}/books/{book} or {book} or {project}/{book}"
        );
    }

    #[test]
    fn short_names_expand_to_the_full_name_of_the_commands_kind() {
        assert_eq!(scope("shop/dev").unwrap(), "projects/shop/scopes/dev");
        assert_eq!(
            cluster("shop/local").unwrap(),
            "projects/shop/clusters/local"
        );
        assert_eq!(group("shop/erp").unwrap(), "projects/shop/groups/erp");
        assert_eq!(
            deployment("shop/erp/main").unwrap(),
            "projects/shop/groups/erp/deployments/main"
        );
        assert_eq!(
            deployment("shop/erp/main/").unwrap(),
            "projects/shop/groups/erp/deployments/main"
        );
        assert_eq!(
            job("shop/erp/main/0193abcd-0001").unwrap(),
            "projects/shop/groups/erp/deployments/main/jobs/0193abcd-0001"
        );
        assert_eq!(book("odoo-deploy").unwrap(), "books/odoo-deploy");
        assert_eq!(book("shop/mine").unwrap(), "projects/shop/books/mine");
        assert_eq!(project("shop/").unwrap(), "projects/shop");
        // A scope or cluster option takes the bare id, the short name or the full name.
        assert_eq!(
            in_project(
                "projects/a/groups/g/deployments/d",
                "scopes",
                scope_or_id("b/dev").unwrap()
            ),
            "projects/b/scopes/dev"
        );
    }

    #[test]
    fn job_parents_take_short_names_by_their_number_of_ids() {
        assert_eq!(
            job_parent("shop").unwrap(),
            "projects/shop/groups/-/deployments/-"
        );
        assert_eq!(
            job_parent("shop/erp").unwrap(),
            "projects/shop/groups/erp/deployments/-"
        );
        assert_eq!(
            job_parent("shop/erp/main").unwrap(),
            "projects/shop/groups/erp/deployments/main"
        );
        assert!(job_parent("shop/erp/main/job").is_err());
    }

    #[test]
    fn short_names_refuse_what_is_not_an_id() {
        // Wildcards, path tricks, upper case, spaces and empty ids never reach a name.
        for bad in [
            "shop/-/-",
            "shop/../main",
            "shop/./main",
            "Shop/erp/main",
            "shop/erp/ma in",
            "shop//main",
            "/shop/erp",
            "shop/erp/main?x=1",
            "shop/erp/m%2fx",
            "shop/erp/main\n",
            "shop/erp/-main",
        ] {
            let error = deployment(bad).unwrap_err();
            assert!(
                error.ends_with(
                    "expected projects/{project}/groups/{group}/deployments/{deployment} \
                     or {project}/{group}/{deployment}"
                ),
                "{bad:?}: {error}"
            );
        }
        assert!(
            deployment("Shop/erp/main")
                .unwrap_err()
                .starts_with("\"Shop\" is not a valid id")
        );
        let too_long = format!("shop/{}", "a".repeat(64));
        assert!(group(&too_long).is_err());
        assert!(job_parent("-").is_err());
        assert!(book("-").is_err());
    }

    #[test]
    fn short_names_never_start_like_a_full_name_cut_short() {
        // `projects/a/b` is a deployment name missing its collections, not project "projects".
        assert!(deployment("projects/erp/main").is_err());
        assert!(deployment("groups/erp/main").is_err());
        assert!(scope("scopes/dev").is_err());
        assert!(scope("projects/dev").is_err());
        assert!(cluster("clusters/local").is_err());
        assert!(group("projects/erp").is_err());
        assert!(job_parent("projects/a/groups").is_err());
        // The full name wins: `books/x` is the global book, not project "books".
        assert_eq!(book("books/x").unwrap(), "books/x");
        assert!(book("projects/x").is_err());
        // A name of another kind, or too many or too few ids, is refused.
        assert!(scope("shop/dev/x").is_err());
        assert!(scope("shop").is_err());
        assert!(cluster("projects/a/scopes/dev").is_err());
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
            "expected projects/{project}/scopes/{scope} or {project}/{scope}, \
             or just the id within the project"
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
