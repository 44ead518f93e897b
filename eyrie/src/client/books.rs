//! `eyrie book`: Deployment Books, written as YAML files and rendered for a deployment.

use std::{io::Read as _, path::PathBuf};

use clap::Subcommand;
use eyrie_proto::v1::{
    self, Book, BookSource, CreateBookRequest, ExportBookRequest, GetBookRequest, ListBooksRequest,
    RenderBookRequest, RenderBookResponse, UpdateBookRequest, ValidateBookRequest,
    create_book_request, render_book_request, validate_book_request,
};
use tonic::Code;

use super::{
    Context, all_pages, choices,
    error::CliError,
    names,
    output::{Details, Format, Label as _, outln, print_details, time, to_json},
};

/// Deployment Books: the steps each lifecycle action runs.
#[derive(Debug, Subcommand)]
pub enum BookCommand {
    /// Lists the global books (built-ins included), or a project's.
    List {
        /// `projects/{project}` for a project's own books; the global books when not given.
        #[arg(value_parser = names::project)]
        project: Option<String>,
        /// Only books of this type.
        #[arg(long = "type", value_enum)]
        deployment_type: Option<choices::DeploymentType>,
        /// With a project, also list the global books.
        #[arg(long)]
        include_global: bool,
    },
    /// Shows a book as the text `book apply` takes (`--output json`: the structured book).
    Show {
        /// `{book}` or `books/{book}` for a global book; `{project}/{book}` or
        /// `projects/{project}/books/{book}` for a project's.
        #[arg(value_parser = names::book)]
        name: String,
        /// Text format of the book.
        #[arg(long, value_enum, default_value = "yaml")]
        format: choices::BookFormat,
    },
    /// Creates or replaces a book from a YAML (or `.json`) file.
    Apply {
        /// `{book}` or `books/{book}` for a global book; `{project}/{book}` or
        /// `projects/{project}/books/{book}` for a project's.
        #[arg(value_parser = names::book)]
        name: String,
        /// The book file; `-` reads stdin.
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Checks a book file without storing it; exits with 1 when it has problems.
    Validate {
        /// The book file; `-` reads stdin.
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Shows what a book would apply for a deployment, without running anything.
    Render {
        /// `{book}` or `books/{book}` for a global book; `{project}/{book}` or
        /// `projects/{project}/books/{book}` for a project's.
        #[arg(value_parser = names::book)]
        name: String,
        /// `{project}/{group}/{deployment}`, or
        /// `projects/{project}/groups/{group}/deployments/{deployment}`.
        #[arg(long, value_parser = names::deployment)]
        deployment: String,
        /// The action templates see as `action`.
        #[arg(long, value_enum)]
        action: Option<choices::Action>,
    },
}

pub async fn run(command: BookCommand, context: &Context) -> Result<(), CliError> {
    let mut client = context.connection.books();
    match command {
        BookCommand::List {
            project,
            deployment_type,
            include_global,
        } => {
            let r#type = deployment_type.map_or(0, |t| v1::DeploymentType::from(t).into());
            let books = all_pages(|page_token| {
                let mut client = client.clone();
                let request = ListBooksRequest {
                    parent: project.clone().unwrap_or_default(),
                    page_size: 0,
                    page_token,
                    r#type,
                    include_global,
                };
                async move {
                    let page = client.list_books(request).await?.into_inner();
                    Ok((page.books, page.next_page_token))
                }
            })
            .await?;
            context
                .output
                .list(&books, &["NAME", "TYPE", "STEPS", "DISPLAY NAME"], |b| {
                    vec![
                        b.name.clone(),
                        b.r#type().label(),
                        b.steps.len().to_string(),
                        b.display_name.clone(),
                    ]
                });
        }
        BookCommand::Show { name, format } => match context.output.format {
            Format::Json => {
                let book = client.get_book(GetBookRequest { name }).await?.into_inner();
                context.output.one(&book, details);
            }
            Format::Text => {
                let source = client
                    .export_book(ExportBookRequest {
                        name,
                        format: v1::BookFormat::from(format).into(),
                    })
                    .await?
                    .into_inner();
                outln!("{}", source.text.trim_end_matches('\n'));
            }
        },
        BookCommand::Apply { name, file } => {
            let source = read_source(&file)?;
            let (book, verb) = match client.get_book(GetBookRequest { name: name.clone() }).await {
                Ok(_) => {
                    let request = UpdateBookRequest {
                        book: Some(Book {
                            name,
                            ..Default::default()
                        }),
                        source: Some(source),
                        update_mask: None,
                        request_id: String::new(),
                    };
                    (client.update_book(request).await?.into_inner(), "updated")
                }
                Err(status) if status.code() == Code::NotFound => {
                    let (parent, id) = names::split_parent(&name);
                    let request = CreateBookRequest {
                        parent: parent.to_owned(),
                        book_id: id.to_owned(),
                        content: Some(create_book_request::Content::Source(source)),
                        request_id: String::new(),
                    };
                    (client.create_book(request).await?.into_inner(), "created")
                }
                Err(status) => return Err(status.into()),
            };
            eprintln!("{verb} {}", book.name);
            context.output.one(&book, details);
        }
        BookCommand::Validate { file } => {
            let source = read_source(&file)?;
            let response = client
                .validate_book(ValidateBookRequest {
                    content: Some(validate_book_request::Content::Source(source)),
                })
                .await?
                .into_inner();
            if context.output.format == Format::Json {
                let violations: Vec<_> = response
                    .violations
                    .iter()
                    .map(|v| {
                        serde_json::json!({
                            "field": v.field, "step_name": v.step_name, "description": v.description,
                        })
                    })
                    .collect();
                outln!("{:#}", serde_json::json!({ "violations": violations }));
            } else {
                for violation in &response.violations {
                    outln!("{}: {}", violation.field, violation.description);
                }
            }
            if !response.violations.is_empty() {
                return Err(CliError::Failed(format!(
                    "the book has {} problem(s)",
                    response.violations.len()
                )));
            }
            eprintln!("the book is valid");
        }
        BookCommand::Render {
            name,
            deployment,
            action,
        } => {
            let rendered = client
                .render_book(RenderBookRequest {
                    book_ref: Some(render_book_request::BookRef::Name(name)),
                    target: Some(render_book_request::Target::Deployment(deployment)),
                    action: action.map_or(0, |a| v1::OperationAction::from(a).into()),
                })
                .await?
                .into_inner();
            match context.output.format {
                Format::Json => outln!("{:#}", to_json(&rendered)),
                Format::Text => print_rendered(&rendered),
            }
        }
    }
    Ok(())
}

/// The book text of `path` (or stdin), JSON when the file says so, YAML otherwise.
fn read_source(path: &PathBuf) -> Result<BookSource, CliError> {
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|contents| text = contents)
    };
    read.map_err(|err| CliError::Usage(format!("cannot read {}: {err}", path.display())))?;
    let format = if path.extension().is_some_and(|ext| ext == "json") {
        v1::BookFormat::Json
    } else {
        v1::BookFormat::Yaml
    };
    Ok(BookSource {
        format: format.into(),
        text,
    })
}

fn print_rendered(rendered: &RenderBookResponse) {
    for (index, step) in rendered.steps.iter().enumerate() {
        if index > 0 {
            outln!();
        }
        let on = if step.cluster.is_empty() {
            String::new()
        } else {
            format!(" on {}", step.cluster)
        };
        // A skipped step's arguments are not rendered: there is nothing else to show.
        let skipped = if step.skipped {
            ": skipped, its `if` is false"
        } else {
            ""
        };
        outln!(
            "# step {} {} ({}){on}{skipped}",
            step.step_index + 1,
            step.step_name,
            step.uses
        );
        let mut arguments: Vec<_> = step.with.iter().collect();
        arguments.sort();
        let arguments: Vec<_> = arguments
            .into_iter()
            .map(|(key, value)| (key.as_str(), value.clone()))
            .collect();
        print_details(&arguments);
    }
}

fn details(book: &Book) -> Details {
    let parameters: Vec<_> = book
        .parameters
        .iter()
        .map(|p| {
            let mut line = p.name.clone();
            if p.required {
                line.push_str(" (required)");
            } else if !p.default_value.is_empty() {
                line.push_str(&format!(" (default {:?})", p.default_value));
            }
            line
        })
        .collect();
    let steps: Vec<_> = book
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let condition = if step.r#if.is_empty() {
                String::new()
            } else {
                format!(", if {}", step.r#if)
            };
            format!("{}. {} ({}{condition})", index + 1, step.name, step.uses)
        })
        .collect();
    vec![
        ("name", book.name.clone()),
        ("display name", book.display_name.clone()),
        ("type", book.r#type().label()),
        ("built in", if book.builtin { "yes" } else { "" }.to_owned()),
        ("parameters", parameters.join("\n")),
        ("steps", steps.join("\n")),
        ("etag", book.etag.clone()),
        ("created", time(book.create_time.as_ref())),
        ("updated", time(book.update_time.as_ref())),
    ]
}
