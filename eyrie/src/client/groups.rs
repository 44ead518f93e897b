//! `eyrie group`: deployment groups, their type and the book of each lifecycle phase.

use clap::{Args, Subcommand};
use eyrie_proto::{
    book_parameters,
    v1::{
        BookParameter, CreateDeploymentGroupRequest, DeploymentGroup, GetBookRequest,
        GetDeploymentGroupRequest, ListDeploymentGroupsRequest, UpdateDeploymentGroupRequest,
    },
};
use prost_types::FieldMask;

use super::{
    Context, all_pages, choices,
    error::CliError,
    names,
    output::{Details, Format, Label as _, outln, print_table, time},
};

/// Deployment groups: deployments of one type and the books their actions run.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Creates a group; books not given are the built-in books of its type.
    Create {
        /// `{project}/{group}`, or `projects/{project}/groups/{group}`.
        #[arg(value_parser = names::group)]
        name: String,
        /// Type of every deployment in the group.
        #[arg(long = "type", value_enum)]
        deployment_type: choices::DeploymentType,
        /// Human-readable name; the id when not given.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        books: BookRefs,
    },
    /// Lists the groups of a project.
    List {
        /// `projects/{project}`, or just the project id.
        #[arg(value_parser = names::project)]
        project: String,
    },
    /// Shows a group and the parameters its books take.
    #[command(visible_alias = "show")]
    Get {
        /// `{project}/{group}`, or `projects/{project}/groups/{group}`.
        #[arg(value_parser = names::group)]
        name: String,
    },
    /// Changes a group's display name or books (only the options given).
    Update {
        /// `{project}/{group}`, or `projects/{project}/groups/{group}`.
        #[arg(value_parser = names::group)]
        name: String,
        /// New human-readable name.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        books: BookRefs,
        /// Refuse the change unless the group still has this etag.
        #[arg(long)]
        etag: Option<String>,
    },
}

/// The book of each phase: `{book}` or `books/{book}`, `{project}/{book}` or
/// `projects/{project}/books/{book}`; in an update, an empty value goes back to the built-in
/// book.
#[derive(Debug, Args)]
pub struct BookRefs {
    /// Book run by the first Deploy from draft.
    #[arg(long, value_parser = book_ref)]
    initialize_book: Option<String>,
    /// Book run by Deploy.
    #[arg(long, value_parser = book_ref)]
    deploy_book: Option<String>,
    /// Book run by Pause.
    #[arg(long, value_parser = book_ref)]
    pause_book: Option<String>,
    /// Book run by Drop.
    #[arg(long, value_parser = book_ref)]
    drop_book: Option<String>,
}

impl BookRefs {
    /// Sets the given books on `group`, returning the field names set.
    fn apply(self, group: &mut DeploymentGroup) -> Vec<String> {
        let mut paths = Vec::new();
        let fields = [
            (
                self.initialize_book,
                &mut group.initialize_book,
                "initialize_book",
            ),
            (self.deploy_book, &mut group.deploy_book, "deploy_book"),
            (self.pause_book, &mut group.pause_book, "pause_book"),
            (self.drop_book, &mut group.drop_book, "drop_book"),
        ];
        for (value, field, path) in fields {
            if let Some(value) = value {
                *field = value;
                paths.push(path.to_owned());
            }
        }
        paths
    }
}

fn book_ref(input: &str) -> Result<String, String> {
    if input.is_empty() {
        return Ok(String::new());
    }
    names::book(input)
}

pub async fn run(command: GroupCommand, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.deployments();
    match command {
        GroupCommand::Create {
            name,
            deployment_type,
            display_name,
            books,
        } => {
            let (parent, id) = names::split_parent(&name);
            let mut group = DeploymentGroup {
                display_name: display_name.unwrap_or_else(|| id.to_owned()),
                r#type: eyrie_proto::v1::DeploymentType::from(deployment_type).into(),
                ..Default::default()
            };
            books.apply(&mut group);
            let group = client
                .create_deployment_group(CreateDeploymentGroupRequest {
                    parent: parent.to_owned(),
                    deployment_group_id: id.to_owned(),
                    deployment_group: Some(group),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            context.output.one(&group, details);
        }
        GroupCommand::List { project } => {
            let groups = all_pages(|page_token| {
                let mut client = client.clone();
                let parent = project.clone();
                async move {
                    let page = client
                        .list_deployment_groups(ListDeploymentGroupsRequest {
                            parent,
                            page_size: 0,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.deployment_groups, page.next_page_token))
                }
            })
            .await?;
            context
                .output
                .list(&groups, &["NAME", "TYPE", "DISPLAY NAME"], |g| {
                    vec![g.name.clone(), g.r#type().label(), g.display_name.clone()]
                });
        }
        GroupCommand::Get { name } => {
            let group = client
                .get_deployment_group(GetDeploymentGroupRequest { name })
                .await?
                .into_inner();
            context.output.one(&group, details);
            // JSON stays the group alone, so scripts keep one document.
            if context.output.format == Format::Text {
                print_parameters(&group, context).await?;
            }
        }
        GroupCommand::Update {
            name,
            display_name,
            books,
            etag,
        } => {
            let mut group = DeploymentGroup {
                name,
                etag: etag.unwrap_or_default(),
                ..Default::default()
            };
            let mut paths = books.apply(&mut group);
            if let Some(display_name) = display_name {
                group.display_name = display_name;
                paths.push("display_name".to_owned());
            }
            if paths.is_empty() {
                return Err(CliError::Usage(
                    "nothing to update: give --display-name or a --*-book option".into(),
                ));
            }
            let group = client
                .update_deployment_group(UpdateDeploymentGroupRequest {
                    deployment_group: Some(group),
                    update_mask: Some(FieldMask { paths }),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            context.output.one(&group, details);
        }
    }
    Ok(())
}

/// Prints the parameters the group's four books declare, one row per parameter.
async fn print_parameters(group: &DeploymentGroup, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.books();
    let mut books: Vec<(String, Vec<BookParameter>)> = Vec::new();
    let names = [
        &group.initialize_book,
        &group.deploy_book,
        &group.pause_book,
        &group.drop_book,
    ];
    for name in names {
        // A book used by several phases is asked for once.
        if name.is_empty() || books.iter().any(|(book, _)| book == name) {
            continue;
        }
        let book = client
            .get_book(GetBookRequest { name: name.clone() })
            .await?
            .into_inner();
        books.push((name.clone(), book.parameters));
    }
    let rows: Vec<_> = book_parameters::merge(&books)
        .into_iter()
        .map(|p| {
            let value = if p.required {
                "required".to_owned()
            } else if p.default_value.is_empty() {
                "optional".to_owned()
            } else {
                format!("default {}", p.default_value)
            };
            vec![p.name, value, p.books.join(", "), p.description]
        })
        .collect();
    outln!();
    if rows.is_empty() {
        outln!("The group's books take no parameters.");
    } else {
        print_table(&["PARAMETER", "VALUE", "BOOKS", "DESCRIPTION"], &rows);
    }
    Ok(())
}

fn details(group: &DeploymentGroup) -> Details {
    vec![
        ("name", group.name.clone()),
        ("display name", group.display_name.clone()),
        ("type", group.r#type().label()),
        ("initialize book", group.initialize_book.clone()),
        ("deploy book", group.deploy_book.clone()),
        ("pause book", group.pause_book.clone()),
        ("drop book", group.drop_book.clone()),
        ("etag", group.etag.clone()),
        ("created", time(group.create_time.as_ref())),
        ("updated", time(group.update_time.as_ref())),
    ]
}
